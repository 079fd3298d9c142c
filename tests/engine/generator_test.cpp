// Generator on stories260K: greedy golden, stop strings, prompt-prefix reuse, batched generation, errors.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/test_paths.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/generator.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace qrag::engine {
namespace {

constexpr const char* kStories = "models/stories260K/stories260K.gguf";

// First 16 greedy tokens after "Once upon a time" (llama.cpp reference, F32 file).
const std::vector<std::int32_t> kGreedyOnce = {432, 383, 286, 261, 376, 298, 315, 421,
                                               395, 317, 426, 338, 401, 396, 267, 337};

class GeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto path = testing::shared_file(kStories);
    if (!path) GTEST_SKIP() << "needs ../shared/" << kStories;
    model_ = model::Model::load(*path);
    tokenizer_ = std::make_unique<tokenizer::Tokenizer>(tokenizer::Tokenizer::from_gguf(model_->file()));
    pool_ = std::make_unique<core::ThreadPool>(2);
    kernels_ = std::make_unique<kernels::KernelContext>(*pool_);
  }

  Generator make(std::int64_t n_ctx = 256, int n_seq = 1, std::int64_t n_batch = 512) {
    return Generator(*model_, *tokenizer_, *kernels_, GeneratorOptions{n_ctx, n_batch, n_seq});
  }

  std::unique_ptr<model::Model> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<core::ThreadPool> pool_;
  std::unique_ptr<kernels::KernelContext> kernels_;
};

TEST_F(GeneratorTest, GreedyMatchesReference) {
  Generator generator = make();
  const auto prompt = tokenizer_->encode("Once upon a time", true, false);
  ASSERT_EQ(prompt, (std::vector<std::int32_t>{1, 403, 407, 261, 378}));
  GenerationParams params;
  params.max_new_tokens = 16;
  std::string streamed;
  const auto result = generator.generate(prompt, params, [&](std::string_view piece) {
    streamed += piece;
    return true;
  });
  EXPECT_EQ(result.tokens, kGreedyOnce);
  EXPECT_EQ(result.stop_reason, StopReason::kMaxTokens);
  EXPECT_EQ(streamed, result.text);
  EXPECT_EQ(result.text, tokenizer_->decode(result.tokens, false).substr(0, result.text.size()));
  EXPECT_EQ(result.timings.n_prompt, 5);
}

TEST_F(GeneratorTest, SmallBatchesGiveSameTokens) {
  Generator generator = make(256, 1, 2);
  const auto prompt = tokenizer_->encode("Once upon a time", true, false);
  GenerationParams params;
  params.max_new_tokens = 16;
  EXPECT_EQ(generator.generate(prompt, params).tokens, kGreedyOnce);
}

TEST_F(GeneratorTest, StopStringCutsText) {
  Generator generator = make();
  const auto prompt = tokenizer_->encode("Once upon a time", true, false);
  GenerationParams params;
  params.max_new_tokens = 64;
  const auto full = generator.generate(prompt, params);
  const std::size_t cut = full.text.find("Lily");
  ASSERT_NE(cut, std::string::npos) << full.text;

  params.stop = {"Lily"};
  std::string streamed;
  const auto stopped = generator.generate(prompt, params, [&](std::string_view piece) {
    streamed += piece;
    return true;
  });
  EXPECT_EQ(stopped.stop_reason, StopReason::kStopString);
  EXPECT_EQ(stopped.text, full.text.substr(0, cut));
  EXPECT_EQ(streamed, stopped.text);
}

TEST_F(GeneratorTest, ReusesCachedPrefix) {
  Generator generator = make();
  GenerationParams params;
  params.max_new_tokens = 8;
  const auto a = tokenizer_->encode("Lily and Tom went to the park.", true, false);
  const auto b = tokenizer_->encode("Lily and Tom went to the park. They saw a big dog", true, false);
  GenerationParams prompt_only = params;
  prompt_only.max_new_tokens = 0;
  generator.generate(a, prompt_only);
  const auto reused = generator.generate(b, params);
  EXPECT_EQ(reused.timings.n_reused, static_cast<std::int64_t>(a.size()));
  EXPECT_EQ(reused.timings.n_prompt, static_cast<std::int64_t>(b.size() - a.size()));

  // Generated tokens stay cached too: the same prompt again evaluates only its last token.
  const auto again = generator.generate(b, params);
  EXPECT_EQ(again.timings.n_prompt, 1);
  EXPECT_EQ(again.tokens, reused.tokens);

  Generator fresh = make();
  const auto direct = fresh.generate(b, params);
  EXPECT_EQ(direct.timings.n_reused, 0);
  EXPECT_EQ(reused.tokens, direct.tokens);
}

TEST_F(GeneratorTest, BatchEqualsSingle) {
  const std::vector<std::vector<std::int32_t>> prompts = {
      tokenizer_->encode("Once upon a time", true, false),
      tokenizer_->encode("The little bird was sad because", true, false),
      tokenizer_->encode("Lily and Tom went to the park", true, false)};
  GenerationParams params;
  params.max_new_tokens = 20;
  params.sampling.temperature = 0.8f;
  params.sampling.seed = 7;
  params.sampling.top_k = 40;
  Generator batched = make(128, 3);
  const auto together = batched.generate_batch(prompts, params);
  ASSERT_EQ(together.size(), prompts.size());
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    Generator single = make(128, 1);
    const auto alone = single.generate(prompts[i], params);
    EXPECT_EQ(together[i].tokens, alone.tokens) << "prompt " << i;
    EXPECT_EQ(together[i].text, alone.text) << "prompt " << i;
  }
}

TEST_F(GeneratorTest, SeedChangesSampledTokens) {
  const auto prompt = tokenizer_->encode("Once upon a time", true, false);
  GenerationParams params;
  params.max_new_tokens = 24;
  params.sampling.temperature = 1.0f;
  params.sampling.seed = 1;
  Generator generator = make();
  const auto first = generator.generate(prompt, params);
  const auto again = generator.generate(prompt, params);
  params.sampling.seed = 2;
  const auto other = generator.generate(prompt, params);
  EXPECT_EQ(first.tokens, again.tokens);
  EXPECT_NE(first.tokens, other.tokens);
}

TEST_F(GeneratorTest, RejectsPromptLongerThanContext) {
  Generator generator = make(4);
  const auto prompt = tokenizer_->encode("Lily and Tom went to the park", true, false);
  try {
    generator.generate(prompt, GenerationParams{});
    FAIL() << "expected qrag::Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(std::to_string(prompt.size()) + " tokens"), std::string::npos)
        << error.what();
    EXPECT_NE(std::string(error.what()).find("context size is 4"), std::string::npos) << error.what();
  }
}

TEST_F(GeneratorTest, StopsWhenContextIsFull) {
  Generator generator = make(8);
  const auto prompt = tokenizer_->encode("Once upon a time", true, false);
  GenerationParams params;
  params.max_new_tokens = 100;
  params.stop_at_eog = false;
  const auto result = generator.generate(prompt, params);
  EXPECT_EQ(result.stop_reason, StopReason::kContextFull);
  EXPECT_EQ(generator.cache().length(0), 8);
  EXPECT_EQ(result.tokens.size(), 8 - prompt.size() + 1);
}

TEST_F(GeneratorTest, RecordsTopLogprobs) {
  Generator generator = make();
  const auto prompt = tokenizer_->encode("Once upon a time", true, false);
  GenerationParams params;
  params.max_new_tokens = 4;
  params.top_logprobs = 5;
  int calls = 0;
  const auto result = generator.generate(prompt, params, {}, [&](int step, std::int32_t token,
                                                                 std::span<const float> logits) {
    EXPECT_EQ(step, calls++);
    EXPECT_EQ(logits.size(), 512u);
    EXPECT_EQ(token, kGreedyOnce[static_cast<std::size_t>(step)]);
  });
  EXPECT_EQ(calls, 4);
  ASSERT_EQ(result.logprobs.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    ASSERT_EQ(result.logprobs[i].size(), 5u);
    EXPECT_EQ(result.logprobs[i][0].first, kGreedyOnce[i]);
    EXPECT_LE(result.logprobs[i][0].second, 0.0f);
    EXPECT_GE(result.logprobs[i][0].second, result.logprobs[i][1].second);
  }
}

}  // namespace
}  // namespace qrag::engine
