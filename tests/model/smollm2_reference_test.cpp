// SmolLM2-135M-Instruct (Q4_1) logits against an independent numpy forward pass (scripts/goldens/smollm2_reference.py).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "common/test_paths.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "model/decoder.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/sampler.h"
#include "tokenizer/tokenizer.h"

namespace qrag::model {
namespace {

// The reference applies ggml's roundings (8-bit activation blocks with ties to
// even, F16 K/V and Q) in float64. This model's activations have large outliers,
// so an activation that lands near a rounding step moves a whole 8-bit step when
// its float32 value differs in the last bit. The reference measures that
// sensitivity itself: "noise_effect" is how far its logits move when every matmul
// input is perturbed by one float32 epsilon (relative), about 1 logit here. qrag
// computes in float32, so its logits may differ from the float64 reference by as
// much, and no less a tolerance is honest. A wrong weight layout, RoPE pairing or
// norm moves logits by many units and fails, as does a wrong argmax.
constexpr double kNoiseEffectMultiple = 1.0;

TEST(SmolLM2, MatchesNumpyReference) {
  const auto model_path = testing::source_dir() / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(model_path)) GTEST_SKIP() << "needs " << model_path << " (scripts/setup.sh)";
  std::ifstream in(testing::test_data("model/smollm2_reference.json"));
  ASSERT_TRUE(in) << "missing tests/data/model/smollm2_reference.json";
  const nlohmann::json reference = nlohmann::json::parse(in);

  const auto model = Model::load(model_path);
  const std::int64_t n_vocab = model->hparams().n_vocab;
  core::ThreadPool pool(2);
  kernels::KernelContext kernels(pool);
  KvCache cache(model->hparams(), 64, 1);
  Decoder decoder(*model, cache, kernels);

  for (const auto& prompt : reference.at("prompts")) {
    const std::string name = prompt.at("name").get<std::string>();
    const auto tokens = prompt.at("tokens").get<std::vector<std::int32_t>>();
    const double tolerance = kNoiseEffectMultiple * prompt.at("noise_effect").get<double>();
    cache.clear(0);
    const SequenceInput input{0, tokens, true};
    const auto logits = decoder.decode({&input, 1});
    const auto& positions = prompt.at("positions");
    ASSERT_EQ(positions.size(), tokens.size());

    double max_error = 0.0;
    for (std::size_t p = 0; p < positions.size(); ++p) {
      const auto ids = positions[p].at("ids").get<std::vector<std::int32_t>>();
      const auto values = positions[p].at("logits").get<std::vector<double>>();
      const std::span<const float> row = logits.subspan(p * n_vocab, n_vocab);
      for (std::size_t i = 0; i < ids.size(); ++i) {
        const double error = std::fabs(row[ids[i]] - values[i]);
        max_error = std::max(max_error, error);
        ASSERT_LE(error, tolerance) << name << " position " << p << " token " << ids[i];
      }
      // The whole row agrees too: compare log-sum-exp (one number per position).
      std::vector<float> logprobs(row.size());
      log_softmax(row, logprobs);
      const double lse = row[ids[0]] - logprobs[ids[0]];
      EXPECT_NEAR(lse, positions[p].at("logsumexp").get<double>(), tolerance) << name << " position " << p;
      if (values[0] - values[1] > 2 * tolerance) {
        EXPECT_EQ(argmax(row), ids[0]) << name << " position " << p;
      }
    }
    std::printf("%s: max logit error %.4f (tolerance %.4f)\n", name.c_str(), max_error, tolerance);
  }
}

TEST(SmolLM2, TokenizerMatchesReferenceIds) {
  const auto model_path = testing::source_dir() / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(model_path)) GTEST_SKIP() << "needs " << model_path << " (scripts/setup.sh)";
  const auto file = gguf::GgufFile::open(model_path);
  const auto tokenizer = tokenizer::Tokenizer::from_gguf(file);
  const std::vector<std::int32_t> expected = {504, 3575, 282, 4649, 314};  // "capital" prompt of the reference
  std::ifstream in(testing::test_data("model/smollm2_reference.json"));
  const nlohmann::json reference = nlohmann::json::parse(in);
  EXPECT_EQ(reference.at("prompts").at(0).at("tokens").get<std::vector<std::int32_t>>(), expected);
  EXPECT_EQ(tokenizer.encode("The capital of France is", true, false), expected);
}

}  // namespace
}  // namespace qrag::model
