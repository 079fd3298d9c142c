// Forward pass of stories260K (F32 and F16 files) against llama.cpp reference logits and greedy tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/test_paths.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "model/decoder.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/sampler.h"

namespace qrag::model {
namespace {

struct Golden {
  std::vector<std::int32_t> prompt_tokens;
  std::vector<std::vector<float>> prompt_logits;  // [n_prompt][n_vocab]
  std::vector<std::int32_t> greedy;               // 64 continuation tokens
};

Golden read_golden(const std::filesystem::path& path) {
  std::ifstream in(path);
  const nlohmann::json json = nlohmann::json::parse(in);
  Golden golden;
  golden.prompt_tokens = json.at("prompt_tokens").get<std::vector<std::int32_t>>();
  golden.prompt_logits = json.at("prompt_logits").get<std::vector<std::vector<float>>>();
  golden.greedy = json.at("greedy").get<std::vector<std::int32_t>>();
  return golden;
}

// Difference between the largest and the second largest logit.
float top2_margin(std::span<const float> logits) {
  float first = -INFINITY;
  float second = -INFINITY;
  for (const float value : logits) {
    if (value > first) {
      second = first;
      first = value;
    } else if (value > second) {
      second = value;
    }
  }
  return first - second;
}

struct Case {
  const char* model;
  int prompt;
  // The reference keeps K/V in F16 like qrag does. For the F16 file it also rounds
  // activations to F16 before each F16 matrix product, which qrag's matmul does not
  // (it widens the weights to F32), so logits differ by up to a few 1e-2 there.
  float logit_tolerance;
  // false: compare greedy tokens only while our top-2 margin exceeds twice the
  // largest prompt-logit error, since either of the two logits may be off by that much.
  bool all_greedy;
};

class StoriesGolden : public ::testing::TestWithParam<Case> {};

TEST_P(StoriesGolden, LogitsAndGreedy) {
  const Case c = GetParam();
  const std::string model_rel = std::string("models/stories260K/") + c.model + ".gguf";
  const std::string golden_rel = std::string("goldens/stories260K/") + c.model + ".prompt" +
                                 std::to_string(c.prompt) + ".json";
  const auto model_path = testing::shared_file(model_rel);
  const auto golden_path = testing::shared_file(golden_rel);
  if (!model_path || !golden_path) GTEST_SKIP() << "needs ../shared/" << model_rel << " and " << golden_rel;

  const Golden golden = read_golden(*golden_path);
  const auto model = Model::load(*model_path);
  const std::int64_t n_vocab = model->hparams().n_vocab;
  core::ThreadPool pool(1);
  kernels::KernelContext kernels(pool);
  KvCache cache(model->hparams(), 512, 1);
  Decoder decoder(*model, cache, kernels);

  const SequenceInput prompt{0, golden.prompt_tokens, true};
  const auto logits = decoder.decode({&prompt, 1});
  ASSERT_EQ(logits.size(), golden.prompt_logits.size() * static_cast<std::size_t>(n_vocab));
  float max_error = 0.0f;
  for (std::size_t p = 0; p < golden.prompt_logits.size(); ++p) {
    ASSERT_EQ(golden.prompt_logits[p].size(), static_cast<std::size_t>(n_vocab));
    for (std::int64_t t = 0; t < n_vocab; ++t) {
      const float error = std::fabs(logits[p * n_vocab + t] - golden.prompt_logits[p][t]);
      max_error = std::max(max_error, error);
      ASSERT_LE(error, c.logit_tolerance) << "position " << p << " token " << t;
    }
  }
  RecordProperty("max_logit_error", std::to_string(max_error));

  std::vector<float> last(logits.end() - n_vocab, logits.end());
  std::size_t compared = 0;
  for (std::size_t i = 0; i < golden.greedy.size(); ++i, ++compared) {
    if (!c.all_greedy && top2_margin(last) < 2 * max_error) break;
    const std::int32_t token = argmax(last);
    ASSERT_EQ(token, golden.greedy[i]) << "greedy index " << i;
    const SequenceInput next{0, {&token, 1}, false};
    const auto step = decoder.decode({&next, 1});
    last.assign(step.begin(), step.end());
  }
  RecordProperty("greedy_tokens_compared", std::to_string(compared));
  std::printf("max logit error %.3g, %zu greedy tokens compared\n", max_error, compared);
}

INSTANTIATE_TEST_SUITE_P(Stories, StoriesGolden,
                         ::testing::Values(Case{"stories260K", 1, 1e-2f, true}, Case{"stories260K", 2, 1e-2f, true},
                                           Case{"stories260K", 3, 1e-2f, true},
                                           Case{"stories260K-f16", 1, 1e-1f, false},
                                           Case{"stories260K-f16", 2, 1e-1f, false},
                                           Case{"stories260K-f16", 3, 1e-1f, false}),
                         [](const auto& test_info) {
                           return std::string(test_info.param.logit_tolerance < 0.05f ? "F32" : "F16") + "Prompt" +
                                  std::to_string(test_info.param.prompt);
                         });

}  // namespace
}  // namespace qrag::model
