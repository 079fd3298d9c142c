// A fixed-size thread pool with deterministic static partitioning.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace qrag::core {

// Runs one job at a time on n_threads workers (the calling thread is worker 0).
// parallel_for splits [0, n) into n_threads contiguous chunks whose bounds depend
// only on n and n_threads, so a kernel that writes each output from one chunk in a
// fixed order produces bit-identical results for any thread count.
// Not reentrant: call parallel_for from one thread at a time, and never from
// inside a job.
class ThreadPool {
 public:
  // n_threads >= 1; throws qrag::Error otherwise.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(begin, end, thread_index) once per thread with a non-empty chunk
  // and returns when all calls have finished. An exception thrown by fn is
  // rethrown here (the first one, by thread index).
  void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t, int)>& fn);

  // The chunk of [0, n) that thread `index` of `n_threads` handles.
  static std::pair<std::size_t, std::size_t> chunk(std::size_t n, int n_threads, int index);

 private:
  void worker_loop(int index);
  void run_chunk(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  // Workers and the caller spin for a short while before sleeping on these,
  // because a sleep and wake-up per job costs tens of microseconds.
  std::mutex mutex_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  // Job state: job_ and job_size_ are written before generation_ is published
  // (release) and read after a worker sees the new generation (acquire).
  const std::function<void(std::size_t, std::size_t, int)>* job_ = nullptr;
  std::size_t job_size_ = 0;
  std::atomic<std::size_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
  std::vector<std::exception_ptr> errors_;  // [n_threads], slot i written only by thread i
};

}  // namespace qrag::core
