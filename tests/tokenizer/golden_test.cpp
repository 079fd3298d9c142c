// Exact agreement with llama.cpp's tokenizations of a shared corpus, for every vocabulary.
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/test_paths.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace qrag::tokenizer {
namespace {

class TokenizerGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerGolden, MatchesAllCases) {
  const std::string name = GetParam();
  const auto golden_path = testing::shared_file("goldens/tokenizer/tok-" + name + ".json");
  const auto vocab_path = testing::shared_file("models/vocab/ggml-vocab-" + name + ".gguf");
  if (!golden_path || !vocab_path) GTEST_SKIP() << "needs ../shared/ goldens and vocab for " << name;

  std::ifstream in(*golden_path);
  const nlohmann::json golden = nlohmann::json::parse(in);
  const gguf::GgufFile file = gguf::GgufFile::open(*vocab_path);
  const Tokenizer tokenizer = Tokenizer::from_gguf(file);
  ASSERT_EQ(tokenizer.n_vocab(), golden.at("n_vocab").get<int>());

  const auto& cases = golden.at("cases");
  ASSERT_FALSE(cases.empty());
  int encode_failures = 0;
  int decode_failures = 0;
  std::string first_failure;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const std::string text = c.at("text").get<std::string>();
    const bool add_special = c.at("add_special").get<bool>();
    const auto expected = c.at("tokens").get<std::vector<std::int32_t>>();
    const auto expected_text = c.at("detokenized").get<std::string>();

    const std::vector<std::int32_t> actual = tokenizer.encode(text, add_special, false);
    const std::string decoded = tokenizer.decode(expected, false);
    if (actual != expected) {
      ++encode_failures;
      if (first_failure.empty()) {
        first_failure = fmt::format("case {} encode({:?}, add_special={}):\n  expected {}\n  actual   {}", i, text,
                                    add_special, expected, actual);
      }
    }
    if (decoded != expected_text) {
      ++decode_failures;
      if (first_failure.empty()) {
        first_failure = fmt::format("case {} decode of {}:\n  expected {:?}\n  actual   {:?}", i, expected,
                                    expected_text, decoded);
      }
    }
  }
  EXPECT_EQ(encode_failures, 0) << name << ": " << encode_failures << " of " << cases.size()
                                << " encodings differ; first failure: " << first_failure;
  EXPECT_EQ(decode_failures, 0) << name << ": " << decode_failures << " of " << cases.size()
                                << " decodings differ; first failure: " << first_failure;
}

INSTANTIATE_TEST_SUITE_P(Vocabs, TokenizerGolden,
                         ::testing::Values("llama-spm", "phi-3", "bert-bge", "gpt-2", "falcon", "deepseek-llm",
                                           "llama3", "qwen2"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

// Concurrent encodes share the word cache; every thread must see the same ids as
// a single-threaded pass.
TEST(TokenizerGoldenThreads, ConcurrentEncodeAgrees) {
  const auto golden_path = testing::shared_file("goldens/tokenizer/tok-llama3.json");
  const auto vocab_path = testing::shared_file("models/vocab/ggml-vocab-llama3.gguf");
  if (!golden_path || !vocab_path) GTEST_SKIP() << "needs ../shared/ llama3 goldens and vocab";
  std::ifstream in(*golden_path);
  const nlohmann::json golden = nlohmann::json::parse(in);
  std::vector<std::string> texts;
  std::vector<std::vector<std::int32_t>> expected;
  for (const auto& c : golden.at("cases")) {
    if (c.at("add_special").get<bool>()) continue;
    texts.push_back(c.at("text").get<std::string>());
    expected.push_back(c.at("tokens").get<std::vector<std::int32_t>>());
  }
  const gguf::GgufFile file = gguf::GgufFile::open(*vocab_path);
  const Tokenizer tokenizer = Tokenizer::from_gguf(file);

  constexpr int kThreads = 4;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (std::size_t i = 0; i < texts.size(); ++i) {
          if (tokenizer.encode(texts[i], false, false) != expected[i]) ++mismatches[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[static_cast<std::size_t>(t)], 0) << "thread " << t;
}

// The stories260K SentencePiece vocabulary (512 tokens, byte fallback) on the
// prompts of the greedy-decoding goldens.
TEST(TokenizerGoldenStories, PromptTokens) {
  const auto model = testing::shared_file("models/stories260K/stories260K.gguf");
  if (!model) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
  const gguf::GgufFile file = gguf::GgufFile::open(*model);
  const Tokenizer tokenizer = Tokenizer::from_gguf(file);
  EXPECT_EQ(tokenizer.n_vocab(), 512);
  int checked = 0;
  for (const char* name : {"prompt1", "prompt2", "prompt3"}) {
    const auto path = testing::shared_file(std::string("goldens/stories260K/stories260K.") + name + ".json");
    if (!path) continue;
    std::ifstream in(*path);
    const nlohmann::json golden = nlohmann::json::parse(in);
    const std::string prompt = golden.at("prompt").get<std::string>();
    const auto expected = golden.at("prompt_tokens").get<std::vector<std::int32_t>>();
    EXPECT_EQ(tokenizer.encode(prompt, true, false), expected) << name << ": " << prompt;
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(prompt, false, false), false), prompt) << name;
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "needs ../shared/goldens/stories260K/*.json";
}

}  // namespace
}  // namespace qrag::tokenizer
