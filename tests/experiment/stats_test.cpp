// Tests of the statistics against closed forms and hand-computed values.
#include "experiment/stats.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"

namespace qrag::experiment {
namespace {

TEST(McNemar, KnownCounts) {
  // b=1, c=6: 2 * (C(7,0) + C(7,1)) / 2^7 = 16/128.
  EXPECT_NEAR(mcnemar_exact(1, 6).p_value, 0.125, 1e-12);
  EXPECT_NEAR(mcnemar_exact(6, 1).p_value, 0.125, 1e-12);
  // b=0, c=5: 2 / 32.
  EXPECT_NEAR(mcnemar_exact(0, 5).p_value, 0.0625, 1e-12);
  // b=c: capped at 1.
  EXPECT_DOUBLE_EQ(mcnemar_exact(4, 4).p_value, 1.0);
  EXPECT_DOUBLE_EQ(mcnemar_exact(0, 0).p_value, 1.0);
  EXPECT_EQ(mcnemar_exact(3, 9).n, 12u);
  // b=2, c=10: 2 * (1 + 12 + 66) / 4096.
  EXPECT_NEAR(mcnemar_exact(2, 10).p_value, 158.0 / 4096.0, 1e-12);
}

TEST(McNemar, LargeCountsFinite) {
  const double p = mcnemar_exact(4000, 4200).p_value;
  EXPECT_GT(p, 0.0);
  EXPECT_LT(p, 0.05);
}

TEST(Bootstrap, ContainsTrueMeanOfKnownDistribution) {
  std::mt19937_64 engine(7);
  std::normal_distribution<double> normal(3.0, 1.0);
  std::vector<double> values(400);
  for (double& v : values) v = normal(engine);
  const Interval interval = bootstrap_mean_ci(values, BootstrapOptions{2000, 11, 0.95});
  EXPECT_LT(interval.lower, 3.0);
  EXPECT_GT(interval.upper, 3.0);
  // Width near 2 * 1.96 * sigma / sqrt(n) = 0.196.
  EXPECT_NEAR(interval.upper - interval.lower, 0.196, 0.04);
  EXPECT_LE(interval.lower, interval.estimate);
  EXPECT_GE(interval.upper, interval.estimate);
}

TEST(Bootstrap, DeterministicForSeed) {
  const std::vector<double> values = {1, 4, 2, 8, 5, 7};
  const Interval a = bootstrap_mean_ci(values, BootstrapOptions{500, 3, 0.9});
  const Interval b = bootstrap_mean_ci(values, BootstrapOptions{500, 3, 0.9});
  EXPECT_EQ(a.lower, b.lower);
  EXPECT_EQ(a.upper, b.upper);
  EXPECT_DOUBLE_EQ(a.estimate, 27.0 / 6.0);
}

TEST(Bootstrap, ConstantSampleHasZeroWidth) {
  const std::vector<double> values(10, 2.5);
  const Interval interval = bootstrap_mean_ci(values, BootstrapOptions{});
  EXPECT_DOUBLE_EQ(interval.lower, 2.5);
  EXPECT_DOUBLE_EQ(interval.upper, 2.5);
}

TEST(Bootstrap, InvalidArguments) {
  const std::vector<double> empty;
  EXPECT_THROW(bootstrap_mean_ci(empty, BootstrapOptions{}), Error);
  const std::vector<double> one = {1.0};
  EXPECT_THROW(bootstrap_mean_ci(one, BootstrapOptions{0, 1, 0.95}), Error);
  EXPECT_THROW(bootstrap_mean_ci(one, BootstrapOptions{10, 1, 1.0}), Error);
}

TEST(UniformBelow, RejectsBiasedTail) {
  // With bound 3 the lowest 2^64 mod 3 = 1 output (0) is rejected.
  std::vector<std::uint64_t> stream = {0, 5, 7};
  std::size_t at = 0;
  const std::function<std::uint64_t()> next = [&] { return stream[at++]; };
  EXPECT_EQ(uniform_below(3, next), 2u);
  EXPECT_EQ(at, 2u);
}

TEST(SignFlip, ExactHandComputed) {
  // Differences {1, 2, 3}: |sum| over 8 sign patterns is 6,4,2,0,0,2,4,6 -> P(>= 6) = 2/8.
  const std::vector<double> d = {1, 2, 3};
  const TestResult result = sign_flip_test(d, 1000, 1);
  EXPECT_EQ(result.name, "sign-flip-exact");
  EXPECT_DOUBLE_EQ(result.p_value, 0.25);
  EXPECT_DOUBLE_EQ(result.statistic, 6.0);
}

TEST(SignFlip, ZerosDropped) {
  const std::vector<double> d = {0, 0, 1, 0};
  const TestResult result = sign_flip_test(d, 1000, 1);
  EXPECT_EQ(result.n, 1u);
  EXPECT_DOUBLE_EQ(result.p_value, 1.0);
  EXPECT_DOUBLE_EQ(sign_flip_test(std::vector<double>(5, 0.0), 10, 1).p_value, 1.0);
}

TEST(SignFlip, MonteCarloMatchesExact) {
  std::vector<double> d;
  for (int i = 0; i < 18; ++i) d.push_back(0.3 + 0.1 * (i % 5) - (i % 4 == 0 ? 0.8 : 0.0));
  const double exact = sign_flip_test(d, 0, 1, 20).p_value;
  const TestResult sampled = sign_flip_test(d, 20000, 5, 0);
  EXPECT_EQ(sampled.name, "sign-flip-monte-carlo");
  // Monte Carlo standard error at 20000 draws is at most 0.0036; allow 4 of them.
  EXPECT_NEAR(sampled.p_value, exact, 0.015);
}

TEST(Wilcoxon, ExactSmallSample) {
  // d = {1, 2, -3, 4, 5}: W+ = 1+2+4+5 = 12. By symmetry P(W+ >= 12) = P(W+ <= 3), and the
  // rank subsets with sum <= 3 are {}, {1}, {2}, {3}, {1,2}, so p = 2 * 5/32 = 0.3125.
  const std::vector<double> d = {1, 2, -3, 4, 5};
  const TestResult result = wilcoxon_signed_rank(d);
  EXPECT_EQ(result.name, "wilcoxon-exact");
  EXPECT_DOUBLE_EQ(result.statistic, 12.0);
  EXPECT_NEAR(result.p_value, 0.3125, 1e-12);
}

TEST(Wilcoxon, AllPositiveExact) {
  // n = 6, all positive: P(W+ = 21) = 1/64, two-sided 2/64.
  const std::vector<double> d = {1, 2, 3, 4, 5, 6};
  EXPECT_NEAR(wilcoxon_signed_rank(d).p_value, 2.0 / 64.0, 1e-12);
}

TEST(Wilcoxon, TiesUseNormalApproximation) {
  const std::vector<double> d = {1, 1, 1, 1, 1, 1, 1, 1, -1, 2};
  const TestResult result = wilcoxon_signed_rank(d);
  EXPECT_EQ(result.name, "wilcoxon-normal");
  EXPECT_GT(result.p_value, 0.0);
  EXPECT_LT(result.p_value, 0.1);
}

}  // namespace
}  // namespace qrag::experiment
