// Sampler: greedy, filters (top-k, top-p, min-p), seeding and the drawn distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "core/error.h"
#include "model/sampler.h"

namespace qrag::model {
namespace {

TEST(Sampler, GreedyPicksFirstMaximum) {
  Sampler sampler(SamplerParams{});
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(sampler.sample(logits), 1);
  EXPECT_EQ(argmax(logits), 1);
}

TEST(Sampler, TopKOneIsGreedy) {
  Sampler sampler(SamplerParams{1.5f, 1, 1.0f, 0.0f, 3});
  const std::vector<float> logits = {0.1f, 0.3f, 0.2f, -4.0f};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(sampler.sample(logits), 1);
}

TEST(Sampler, SameSeedSameDraws) {
  const std::vector<float> logits = {0.0f, 0.1f, 0.2f, 0.3f, 0.4f};
  Sampler a(SamplerParams{1.0f, 0, 1.0f, 0.0f, 11});
  Sampler b(SamplerParams{1.0f, 0, 1.0f, 0.0f, 11});
  Sampler c(SamplerParams{1.0f, 0, 1.0f, 0.0f, 12});
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.sample(logits);
    EXPECT_EQ(x, b.sample(logits));
    differ += x != c.sample(logits);
  }
  EXPECT_GT(differ, 0);
}

// Frequencies of 40000 draws against softmax(logits / T), within 5 standard errors.
TEST(Sampler, DrawsFollowSoftmax) {
  const std::vector<float> logits = {1.0f, 0.0f, -1.0f, 0.5f};
  const float temperature = 0.7f;
  Sampler sampler(SamplerParams{temperature, 0, 1.0f, 0.0f, 5});
  const int n = 40000;
  std::vector<int> counts(logits.size());
  for (int i = 0; i < n; ++i) ++counts[static_cast<std::size_t>(sampler.sample(logits))];
  double sum = 0;
  for (const float l : logits) sum += std::exp(l / temperature);
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const double p = std::exp(logits[i] / temperature) / sum;
    const double se = std::sqrt(p * (1 - p) / n);
    EXPECT_NEAR(counts[i] / static_cast<double>(n), p, 5 * se) << "token " << i;
  }
}

TEST(Sampler, TopPKeepsSmallestNucleus) {
  // Probabilities at T=1: about 0.64, 0.24, 0.09, 0.03.
  const std::vector<float> logits = {3.0f, 2.0f, 1.0f, 0.0f};
  Sampler sampler(SamplerParams{1.0f, 0, 0.8f, 0.0f, 9});
  std::map<int, int> seen;
  for (int i = 0; i < 2000; ++i) ++seen[sampler.sample(logits)];
  EXPECT_GT(seen[0], 0);
  EXPECT_GT(seen[1], 0);
  EXPECT_EQ(seen.count(2), 0u);
  EXPECT_EQ(seen.count(3), 0u);
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  const std::vector<float> logits = {3.0f, 2.0f, 1.0f, 0.0f};  // p1/p0 = 0.37, p2/p0 = 0.14
  Sampler sampler(SamplerParams{1.0f, 0, 1.0f, 0.2f, 9});
  std::map<int, int> seen;
  for (int i = 0; i < 2000; ++i) ++seen[sampler.sample(logits)];
  EXPECT_GT(seen[1], 0);
  EXPECT_EQ(seen.count(2), 0u);
  EXPECT_EQ(seen.count(3), 0u);
}

TEST(Sampler, RejectsInvalidParams) {
  EXPECT_THROW(Sampler(SamplerParams{-1.0f, 0, 1.0f, 0.0f, 0}), Error);
  EXPECT_THROW(Sampler(SamplerParams{1.0f, 0, 0.0f, 0.0f, 0}), Error);
  EXPECT_THROW(Sampler(SamplerParams{1.0f, 0, 1.5f, 0.0f, 0}), Error);
  EXPECT_THROW(Sampler(SamplerParams{1.0f, 0, 1.0f, 1.5f, 0}), Error);
  EXPECT_THROW(Sampler(SamplerParams{NAN, 0, 1.0f, 0.0f, 0}), Error);
}

TEST(Sampler, TopLogprobsAreSortedLogSoftmax) {
  const std::vector<float> logits = {0.0f, 2.0f, 1.0f};
  const auto top = top_logprobs(logits, 5);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 1);
  EXPECT_EQ(top[1].first, 2);
  EXPECT_EQ(top[2].first, 0);
  const double log_sum = std::log(std::exp(0.0) + std::exp(2.0) + std::exp(1.0));
  EXPECT_NEAR(top[0].second, 2.0 - log_sum, 1e-6);
  EXPECT_NEAR(top[2].second, 0.0 - log_sum, 1e-6);
}

}  // namespace
}  // namespace qrag::model
