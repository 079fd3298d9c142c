// Tests of the logits comparison: statistics against hand-computed values, and Q8_0 vs Q4_0 of stories260K.
#include "engine/compare_logits.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/test_paths.h"
#include "core/thread_pool.h"
#include "engine/quantizer.h"

namespace qrag::engine {
namespace {

constexpr double kTol = 1e-12;  // double accumulation of a handful of terms

TEST(LogitStats, IdenticalRows) {
  LogitStats stats;
  const std::vector<float> row{1.0f, 2.0f, 3.0f};
  stats.add(row, row, 2);
  stats.add(row, row, 0);
  const LogitComparison s = stats.summary();
  EXPECT_EQ(s.n_positions, 2);
  EXPECT_NEAR(s.mean_kl, 0.0, kTol);
  EXPECT_EQ(s.top1_agreement, 1.0);
  EXPECT_NEAR(s.rms_dp, 0.0, kTol);
  EXPECT_NEAR(s.ppl_reference, s.ppl_quantized, kTol);
  // p = softmax(1, 2, 3); ppl = exp(-(log p2 + log p0) / 2).
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  const double expected = std::exp(-(std::log(std::exp(3.0) / z) + std::log(std::exp(1.0) / z)) / 2.0);
  EXPECT_NEAR(s.ppl_reference, expected, 1e-9);
}

TEST(LogitStats, TwoTokenCase) {
  // Reference p = (0.5, 0.5); quantized q = (e/(1+e), 1/(1+e)) with logits (1, 0).
  LogitStats stats;
  const std::vector<float> ref{0.0f, 0.0f};
  const std::vector<float> quant{1.0f, 0.0f};
  stats.add(ref, quant, 1);
  const LogitComparison s = stats.summary();
  const double q0 = std::exp(1.0) / (1.0 + std::exp(1.0));
  const double q1 = 1.0 - q0;
  EXPECT_NEAR(s.mean_kl, 0.5 * std::log(0.5 / q0) + 0.5 * std::log(0.5 / q1), 1e-9);
  EXPECT_EQ(s.top1_agreement, 1.0);  // ties resolve to the first index in both rows
  EXPECT_NEAR(s.rms_dp, std::abs(0.5 - q1), 1e-9);
  EXPECT_NEAR(s.ppl_reference, 2.0, 1e-9);
  EXPECT_NEAR(s.ppl_quantized, 1.0 / q1, 1e-9);
}

TEST(LogitStats, TopOneDisagreement) {
  LogitStats stats;
  stats.add(std::vector<float>{0.0f, 2.0f}, std::vector<float>{2.0f, 0.0f}, 0);
  stats.add(std::vector<float>{0.0f, 2.0f}, std::vector<float>{0.0f, 2.0f}, 0);
  EXPECT_EQ(stats.summary().top1_agreement, 0.5);
  EXPECT_GT(stats.summary().max_kl, stats.summary().mean_kl);
}

constexpr const char* kStory =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. "
    "One day, she saw a big red ball in the park. She ran to the ball and kicked it very hard. "
    "The ball went up into the sky and came down near a tree. Lily was happy and she laughed. "
    "Her mom called her home for lunch, and Lily said goodbye to the ball.";

TEST(CompareLogits, Q8BeatsQ4OnStories) {
  const auto stories = qrag::testing::shared_file("models/stories260K/stories260K.gguf");
  if (!stories) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
  const auto dir = qrag::testing::make_temp_dir();
  core::ThreadPool pool(2);
  kernels::KernelContext kernels(pool);
  const auto reference = model::Model::load(*stories);
  const auto tokenizer = tokenizer::Tokenizer::from_gguf(reference->file());
  CompareOptions options;
  options.n_ctx = 64;  // several chunks, so the cache reset between chunks is exercised

  LogitComparison results[2];
  const char* targets[2] = {"q8_0", "q4_0"};
  for (int i = 0; i < 2; ++i) {
    QuantizeOptions quantize;
    quantize.target = *parse_quant_target(targets[i]);
    const auto path = dir / (std::string(targets[i]) + ".gguf");
    quantize_model(*stories, path, quantize, &pool);
    const auto quantized = model::Model::load(path);
    results[i] = compare_logits(*reference, *quantized, tokenizer, kStory, options, kernels);
  }
  const LogitComparison& q8 = results[0];
  const LogitComparison& q4 = results[1];
  EXPECT_GT(q8.n_positions, 60);
  EXPECT_EQ(q8.n_positions, q4.n_positions);
  EXPECT_GT(q8.mean_kl, 0.0);
  // Q8_0's step is 16 times finer than Q4_0's; KL grows with the square of the logit error.
  EXPECT_LT(q8.mean_kl * 10.0, q4.mean_kl) << "q8 " << q8.mean_kl << " q4 " << q4.mean_kl;
  EXPECT_GE(q8.top1_agreement, q4.top1_agreement);
  EXPECT_LT(q8.rms_dp, q4.rms_dp);
  EXPECT_NEAR(q8.ppl_reference, q4.ppl_reference, 1e-9 * q8.ppl_reference);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace qrag::engine
