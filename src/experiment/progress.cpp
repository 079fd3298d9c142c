// Progress bar and periodic progress lines with throughput and ETA.
#include "experiment/progress.h"

#include <unistd.h>

#include <cmath>
#include <iostream>

#include <fmt/core.h>

namespace qrag::experiment {
namespace {

constexpr int kBarWidth = 30;

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto total = static_cast<long long>(std::llround(seconds));
  const long long hours = total / 3600;
  const long long minutes = (total % 3600) / 60;
  const long long secs = total % 60;
  if (hours > 0) return fmt::format("{}h{:02}m", hours, minutes);
  if (minutes > 0) return fmt::format("{}m{:02}s", minutes, secs);
  return fmt::format("{}s", secs);
}

ProgressReporter::ProgressReporter(std::ostream& out, std::size_t total, std::size_t skipped, Options options)
    : out_(out), total_(total), done_(skipped), options_(std::move(options)) {
  start_ = now();
  last_print_ = start_;
}

ProgressReporter::ProgressReporter(std::ostream& out, std::size_t total, std::size_t skipped)
    : ProgressReporter(out, total, skipped, Options{stream_is_terminal(out), {}, {}, {}}) {}

bool ProgressReporter::stream_is_terminal(const std::ostream& stream) {
  if (&stream == &std::cout) return isatty(STDOUT_FILENO) != 0;
  if (&stream == &std::cerr || &stream == &std::clog) return isatty(STDERR_FILENO) != 0;
  return false;
}

std::chrono::steady_clock::time_point ProgressReporter::now() const {
  return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
}

void ProgressReporter::advance(std::size_t generations, std::int64_t generated_tokens) {
  done_ += generations;
  new_done_ += generations;
  tokens_ += generated_tokens;
  const auto elapsed = now() - last_print_;
  const auto interval = options_.is_terminal ? std::chrono::duration_cast<std::chrono::milliseconds>(options_.min_interval)
                                             : std::chrono::duration_cast<std::chrono::milliseconds>(options_.log_interval);
  if (elapsed >= interval) print(false);
}

void ProgressReporter::finish() { print(true); }

std::string ProgressReporter::status() const {
  const double seconds = std::chrono::duration<double>(now() - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(new_done_) / seconds : 0.0;
  const double token_rate = seconds > 0 ? static_cast<double>(tokens_) / seconds : 0.0;
  const double percent = total_ > 0 ? 100.0 * static_cast<double>(done_) / static_cast<double>(total_) : 100.0;
  const std::size_t left = total_ > done_ ? total_ - done_ : 0;
  const double eta = left == 0 ? 0.0 : (rate > 0 ? static_cast<double>(left) / rate : -1.0);
  return fmt::format("{}/{} ({:.1f}%) {:.2f} gen/s {:.1f} tok/s ETA {}", done_, total_, percent, rate, token_rate,
                     format_duration(eta));
}

void ProgressReporter::print(bool final_line) {
  last_print_ = now();
  if (options_.is_terminal) {
    const double fraction = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
    const int filled = static_cast<int>(std::min(1.0, fraction) * kBarWidth);
    out_ << '\r' << '[' << std::string(static_cast<std::size_t>(filled), '#')
         << std::string(static_cast<std::size_t>(kBarWidth - filled), '.') << "] " << status() << "\x1b[K";
    if (final_line) out_ << '\n';
  } else {
    out_ << (final_line ? "done: " : "progress: ") << status() << '\n';
  }
  out_.flush();
}

}  // namespace qrag::experiment
