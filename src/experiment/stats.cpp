// Bootstrap intervals and paired tests; all randomness comes from seeded std::mt19937_64.
#include "experiment/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include <fmt/core.h>

#include "core/error.h"

namespace qrag::experiment {
namespace {

// Quantile with linear interpolation between order statistics of a sorted sample.
double quantile_sorted(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, sorted.size() - 1);
  const double weight = position - static_cast<double>(below);
  return sorted[below] + weight * (sorted[above] - sorted[below]);
}

double normal_two_sided_p(double z) { return std::erfc(std::fabs(z) / std::sqrt(2.0)); }

}  // namespace

std::uint64_t uniform_below(std::uint64_t bound, const std::function<std::uint64_t()>& next) {
  // Reject the lowest (2^64 mod bound) outputs so that every residue is equally likely.
  const std::uint64_t threshold = (0 - bound) % bound;
  while (true) {
    const std::uint64_t value = next();
    if (value >= threshold) return value % bound;
  }
}

Interval bootstrap_ci(std::size_t n, const Statistic& statistic, const BootstrapOptions& options) {
  if (n == 0) throw Error("bootstrap needs at least one observation");
  if (options.resamples == 0) throw Error("bootstrap needs at least one resample");
  if (!(options.level > 0.0 && options.level < 1.0)) {
    throw Error(fmt::format("bootstrap confidence level {} is outside (0, 1)", options.level));
  }
  std::vector<std::size_t> indices(n);
  std::iota(indices.begin(), indices.end(), std::size_t{0});
  Interval interval;
  interval.estimate = statistic(indices);

  std::mt19937_64 engine(options.seed);
  const std::function<std::uint64_t()> next = [&engine] { return engine(); };
  std::vector<double> values;
  values.reserve(options.resamples);
  for (std::size_t r = 0; r < options.resamples; ++r) {
    for (std::size_t& index : indices) index = uniform_below(n, next);
    values.push_back(statistic(indices));
  }
  std::sort(values.begin(), values.end());
  const double alpha = 1.0 - options.level;
  interval.lower = quantile_sorted(values, alpha / 2);
  interval.upper = quantile_sorted(values, 1.0 - alpha / 2);
  return interval;
}

Interval bootstrap_mean_ci(std::span<const double> values, const BootstrapOptions& options) {
  return bootstrap_ci(
      values.size(),
      [values](std::span<const std::size_t> indices) {
        double sum = 0.0;
        for (std::size_t index : indices) sum += values[index];
        return sum / static_cast<double>(indices.size());
      },
      options);
}

TestResult mcnemar_exact(std::size_t b, std::size_t c) {
  TestResult result{"mcnemar-exact", static_cast<double>(b), 1.0, b + c};
  const std::size_t n = b + c;
  if (n == 0) return result;
  // Sum the binomial tail in log space so that large counts do not overflow.
  const std::size_t tail_end = std::min(b, c);
  const double log_half_n = static_cast<double>(n) * std::log(0.5);
  double tail = 0.0;
  for (std::size_t i = 0; i <= tail_end; ++i) {
    const double log_choose = std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(i) + 1) -
                              std::lgamma(static_cast<double>(n - i) + 1);
    tail += std::exp(log_choose + log_half_n);
  }
  result.p_value = std::min(1.0, 2.0 * tail);
  return result;
}

TestResult sign_flip_test(std::span<const double> differences, std::size_t resamples, std::uint64_t seed,
                          std::size_t exact_limit) {
  std::vector<double> nonzero;
  for (double d : differences) {
    if (d != 0.0) nonzero.push_back(d);
  }
  const double observed = std::fabs(std::accumulate(nonzero.begin(), nonzero.end(), 0.0));
  TestResult result{"sign-flip-exact", observed, 1.0, nonzero.size()};
  if (nonzero.empty()) return result;
  // Sums equal up to rounding must count as "at least as extreme".
  double scale = 0.0;
  for (double d : nonzero) scale += std::fabs(d);
  const double tolerance = 1e-9 * scale;

  const std::size_t m = nonzero.size();
  if (m <= exact_limit) {
    std::size_t hits = 0;
    const std::uint64_t patterns = std::uint64_t{1} << m;
    for (std::uint64_t mask = 0; mask < patterns; ++mask) {
      double sum = 0.0;
      for (std::size_t i = 0; i < m; ++i) sum += (mask >> i) & 1 ? -nonzero[i] : nonzero[i];
      if (std::fabs(sum) >= observed - tolerance) ++hits;
    }
    result.p_value = static_cast<double>(hits) / static_cast<double>(patterns);
    return result;
  }

  result.name = "sign-flip-monte-carlo";
  std::mt19937_64 engine(seed);
  std::size_t hits = 0;
  for (std::size_t r = 0; r < resamples; ++r) {
    double sum = 0.0;
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < m; ++i) {
      if (i % 64 == 0) bits = engine();
      sum += (bits >> (i % 64)) & 1 ? -nonzero[i] : nonzero[i];
    }
    if (std::fabs(sum) >= observed - tolerance) ++hits;
  }
  result.p_value = static_cast<double>(1 + hits) / static_cast<double>(1 + resamples);
  return result;
}

TestResult wilcoxon_signed_rank(std::span<const double> differences) {
  std::vector<double> nonzero;
  for (double d : differences) {
    if (d != 0.0) nonzero.push_back(d);
  }
  const std::size_t n = nonzero.size();
  TestResult result{"wilcoxon-exact", 0.0, 1.0, n};
  if (n == 0) return result;

  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return std::fabs(nonzero[a]) < std::fabs(nonzero[b]); });
  std::vector<double> ranks(n);
  double tie_term = 0.0;
  bool has_ties = false;
  for (std::size_t start = 0; start < n;) {
    std::size_t end = start + 1;
    while (end < n && std::fabs(nonzero[order[end]]) == std::fabs(nonzero[order[start]])) ++end;
    const double average_rank = (static_cast<double>(start + 1) + static_cast<double>(end)) / 2.0;
    for (std::size_t i = start; i < end; ++i) ranks[order[i]] = average_rank;
    const double t = static_cast<double>(end - start);
    tie_term += t * t * t - t;
    has_ties = has_ties || end - start > 1;
    start = end;
  }
  double w_plus = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    if (nonzero[i] > 0) w_plus += ranks[i];
  }
  result.statistic = w_plus;
  const double nd = static_cast<double>(n);
  const double mean = nd * (nd + 1) / 4.0;

  if (!has_ties && n <= 30) {
    // counts[s] = number of sign patterns whose positive ranks sum to s.
    const std::size_t max_sum = n * (n + 1) / 2;
    std::vector<double> counts(max_sum + 1, 0.0);
    counts[0] = 1.0;
    for (std::size_t rank = 1; rank <= n; ++rank) {
      for (std::size_t s = max_sum; s >= rank; --s) counts[s] += counts[s - rank];
    }
    const auto w = static_cast<std::size_t>(std::llround(w_plus));
    const double total = std::ldexp(1.0, static_cast<int>(n));
    double lower = 0.0;
    for (std::size_t s = 0; s <= w; ++s) lower += counts[s];
    double upper = 0.0;
    for (std::size_t s = w; s <= max_sum; ++s) upper += counts[s];
    result.p_value = std::min(1.0, 2.0 * std::min(lower, upper) / total);
    return result;
  }

  result.name = "wilcoxon-normal";
  const double variance = nd * (nd + 1) * (2 * nd + 1) / 24.0 - tie_term / 48.0;
  if (variance <= 0.0) return result;
  const double deviation = std::fabs(w_plus - mean) - 0.5;
  result.p_value = std::min(1.0, normal_two_sided_p(std::max(0.0, deviation) / std::sqrt(variance)));
  return result;
}

}  // namespace qrag::experiment
