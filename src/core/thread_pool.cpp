// ThreadPool implementation: workers wait on a generation counter for each job.
#include "core/thread_pool.h"

#include <string>

#include "core/error.h"

namespace qrag::core {

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads) {
  if (n_threads < 1) throw Error("thread count must be at least 1, got " + std::to_string(n_threads));
  errors_.resize(static_cast<std::size_t>(n_threads));
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  start_cv_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

std::pair<std::size_t, std::size_t> ThreadPool::chunk(std::size_t n, int n_threads, int index) {
  const auto threads = static_cast<std::size_t>(n_threads);
  const auto i = static_cast<std::size_t>(index);
  const std::size_t base = n / threads;
  const std::size_t extra = n % threads;
  const std::size_t begin = i * base + std::min(i, extra);
  return {begin, begin + base + (i < extra ? 1 : 0)};
}

void ThreadPool::run_chunk(int index) {
  const auto [begin, end] = chunk(job_size_, n_threads_, index);
  if (begin >= end) return;
  try {
    (*job_)(begin, end, index);
  } catch (...) {
    errors_[static_cast<std::size_t>(index)] = std::current_exception();
  }
}

void ThreadPool::parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t, int)>& fn) {
  if (n == 0) return;
  if (n_threads_ == 1) {
    fn(0, n, 0);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    job_ = &fn;
    job_size_ = n;
    pending_ = n_threads_ - 1;
    ++generation_;
    for (auto& error : errors_) error = nullptr;
  }
  start_cv_.notify_all();
  run_chunk(0);
  {
    std::unique_lock lock(mutex_);
    done_cv_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
  }
  for (const auto& error : errors_) {
    if (error) std::rethrow_exception(error);
  }
}

void ThreadPool::worker_loop(int index) {
  std::size_t seen_generation = 0;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      start_cv_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
      if (stopping_) return;
      seen_generation = generation_;
    }
    run_chunk(index);
    {
      std::lock_guard lock(mutex_);
      --pending_;
    }
    done_cv_.notify_one();
  }
}

}  // namespace qrag::core
