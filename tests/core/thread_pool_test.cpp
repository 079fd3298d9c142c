// Tests for ThreadPool partitioning, completion and exception propagation.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"

namespace qrag::core {
namespace {

TEST(ThreadPool, ChunksCoverRangeExactlyOnce) {
  for (int threads : {1, 2, 3, 7}) {
    for (std::size_t n : {0u, 1u, 2u, 5u, 16u, 17u, 1000u}) {
      std::size_t expected_begin = 0;
      for (int i = 0; i < threads; ++i) {
        const auto [begin, end] = ThreadPool::chunk(n, threads, i);
        EXPECT_EQ(begin, expected_begin) << "n=" << n << " threads=" << threads << " i=" << i;
        EXPECT_LE(begin, end);
        expected_begin = end;
      }
      EXPECT_EQ(expected_begin, n) << "n=" << n << " threads=" << threads;
    }
  }
}

TEST(ThreadPool, EveryIndexVisitedOnce) {
  ThreadPool pool(3);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::atomic<int>> visits(257);
    pool.parallel_for(visits.size(), [&](std::size_t begin, std::size_t end, int) {
      for (std::size_t i = begin; i < end; ++i) visits[i].fetch_add(1);
    });
    for (std::size_t i = 0; i < visits.size(); ++i) ASSERT_EQ(visits[i].load(), 1) << "index " << i;
  }
}

TEST(ThreadPool, RethrowsWorkerException) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(10,
                                 [](std::size_t begin, std::size_t, int) {
                                   if (begin > 0) throw std::runtime_error("worker failed");
                                 }),
               std::runtime_error);
  // The pool stays usable after a failed job.
  std::atomic<int> calls{0};
  pool.parallel_for(10, [&](std::size_t, std::size_t, int) { calls.fetch_add(1); });
  EXPECT_EQ(calls.load(), 2);
}

TEST(ThreadPool, RejectsZeroThreads) { EXPECT_THROW(ThreadPool(0), Error); }

}  // namespace
}  // namespace qrag::core
