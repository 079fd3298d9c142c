// Progress reporting for long runs: a redrawn bar on a terminal, periodic log lines otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

namespace qrag::experiment {

// Counts finished generations out of a known total and prints the rate and an ETA.
// On a terminal it redraws one line ("\r") at most every `min_interval`; elsewhere it
// writes a full line every `log_interval`. The clock is injectable for tests.
// Not thread-safe: call from the runner's thread only.
class ProgressReporter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  struct Options {
    bool is_terminal = false;
    std::chrono::milliseconds min_interval{200};
    std::chrono::seconds log_interval{30};
    Clock clock;  // empty = std::chrono::steady_clock::now
  };

  // `total` generations are planned, of which `skipped` are already stored (resume).
  ProgressReporter(std::ostream& out, std::size_t total, std::size_t skipped, Options options);
  ProgressReporter(std::ostream& out, std::size_t total, std::size_t skipped);

  // Records one generation (new or reused) and its generated tokens, then maybe prints.
  void advance(std::size_t generations, std::int64_t generated_tokens);
  // Prints the final line (always, even when the interval has not passed).
  void finish();

  // The status text without the bar, e.g. "120/400 (30.0%) 2.5 gen/s 41.0 tok/s ETA 1m52s".
  std::string status() const;

  // True when `stream` is stdout/stderr attached to a terminal.
  static bool stream_is_terminal(const std::ostream& stream);

 private:
  void print(bool final_line);
  std::chrono::steady_clock::time_point now() const;

  std::ostream& out_;
  std::size_t total_;
  std::size_t done_;
  std::size_t new_done_ = 0;
  std::int64_t tokens_ = 0;
  Options options_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

// "1h02m", "3m05s", "42s"; "?" for a negative or non-finite number of seconds.
std::string format_duration(double seconds);

}  // namespace qrag::experiment
