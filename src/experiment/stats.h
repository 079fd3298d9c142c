// Statistics for result analysis: percentile bootstrap, exact McNemar, sign-flip and Wilcoxon tests.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace qrag::experiment {

// A point estimate with a confidence interval.
struct Interval {
  double estimate = 0.0;
  double lower = 0.0;
  double upper = 0.0;
};

struct BootstrapOptions {
  std::size_t resamples = 2000;
  std::uint64_t seed = 20240101;
  double level = 0.95;  // two-sided coverage
};

// A statistic of a resample: `indices` lists n positions drawn with replacement from
// 0..n-1 (the original sample is 0..n-1 in order).
using Statistic = std::function<double(std::span<const std::size_t> indices)>;

// Percentile bootstrap: the estimate is statistic(0..n-1), the bounds are the
// (1-level)/2 and (1+level)/2 quantiles (linear interpolation between order statistics)
// of the statistic over `resamples` resamples drawn with std::mt19937_64 seeded with
// options.seed, so equal inputs give equal intervals on every platform. Throws
// qrag::Error when n is 0, resamples is 0 or level is outside (0, 1).
Interval bootstrap_ci(std::size_t n, const Statistic& statistic, const BootstrapOptions& options);

// bootstrap_ci of the mean of `values`.
Interval bootstrap_mean_ci(std::span<const double> values, const BootstrapOptions& options);

// A draw in [0, bound) from a 64-bit generator output stream without modulo bias.
std::uint64_t uniform_below(std::uint64_t bound, const std::function<std::uint64_t()>& next);

struct TestResult {
  std::string name;       // "mcnemar-exact", "sign-flip-exact", "sign-flip-monte-carlo", "wilcoxon-..."
  double statistic = 0.0;
  double p_value = 1.0;   // two-sided
  std::size_t n = 0;      // observations that carry information (discordant pairs, nonzero differences)
};

// Exact McNemar test: under H0 the b "ref right, quant wrong" pairs among the b + c
// discordant pairs follow Binomial(b + c, 1/2). Two-sided p = min(1, 2 P(X <= min(b, c))).
TestResult mcnemar_exact(std::size_t b, std::size_t c);

// Sign-flip permutation test of a zero mean paired difference, statistic |sum d_i|.
// With at most `exact_limit` nonzero differences it enumerates all 2^m sign patterns;
// otherwise p = (1 + hits) / (1 + resamples) from seeded random sign patterns.
TestResult sign_flip_test(std::span<const double> differences, std::size_t resamples, std::uint64_t seed,
                          std::size_t exact_limit = 20);

// Wilcoxon signed-rank test (zeros dropped, ties get average ranks). Exact null
// distribution when there are no ties and at most 30 nonzero differences; otherwise the
// normal approximation with tie correction and continuity correction. Statistic: W+.
TestResult wilcoxon_signed_rank(std::span<const double> differences);

}  // namespace qrag::experiment
