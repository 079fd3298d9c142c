// ThreadPool implementation: workers spin, then sleep, waiting for the next job's generation.
#include "core/thread_pool.h"

#include <string>

#include "core/error.h"

namespace qrag::core {
namespace {

// About 0.1 to 1 ms of polling (the pause instruction takes tens of cycles):
// long enough to bridge the gap between back-to-back matmuls, short enough not
// to burn a core while the pool sits idle.
constexpr int kSpinIterations = 1 << 14;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads) {
  if (n_threads < 1) throw Error("thread count must be at least 1, got " + std::to_string(n_threads));
  errors_.resize(static_cast<std::size_t>(n_threads));
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_.store(true, std::memory_order_release);
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
  for (auto& error : errors_) error = nullptr;
  job_ = &fn;
  job_size_ = n;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    // Publishing under the mutex means a worker about to sleep either sees the
    // new generation in its wait predicate or gets the notification.
    std::lock_guard lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_cv_.notify_all();
  run_chunk(0);

  for (int spin = 0; spin < kSpinIterations && pending_.load(std::memory_order_acquire) != 0; ++spin) cpu_relax();
  if (pending_.load(std::memory_order_acquire) != 0) {
    std::unique_lock lock(mutex_);
    done_cv_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
  }
  job_ = nullptr;
  for (const auto& error : errors_) {
    if (error) std::rethrow_exception(error);
  }
}

void ThreadPool::worker_loop(int index) {
  std::size_t seen_generation = 0;
  while (true) {
    bool started = false;
    for (int spin = 0; spin < kSpinIterations; ++spin) {
      if (generation_.load(std::memory_order_acquire) != seen_generation ||
          stopping_.load(std::memory_order_acquire)) {
        started = true;
        break;
      }
      cpu_relax();
    }
    if (!started) {
      std::unique_lock lock(mutex_);
      start_cv_.wait(lock, [&] {
        return stopping_.load(std::memory_order_acquire) ||
               generation_.load(std::memory_order_acquire) != seen_generation;
      });
    }
    if (stopping_.load(std::memory_order_acquire)) return;
    seen_generation = generation_.load(std::memory_order_acquire);
    run_chunk(index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // The caller may be asleep: take the mutex so the wake-up cannot fall
      // between its predicate check and its wait.
      { std::lock_guard lock(mutex_); }
      done_cv_.notify_one();
    }
  }
}

}  // namespace qrag::core
