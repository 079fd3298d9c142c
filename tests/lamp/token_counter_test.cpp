// Tests of the token counters: the word counter and the adapter over a real Llama 2 vocabulary.
#include <gtest/gtest.h>

#include "common/test_paths.h"
#include "gguf/gguf_file.h"
#include "lamp/token_counter.h"

namespace qrag::lamp {
namespace {

TEST(WordCounter, CountsAndTruncates) {
  const WordCounter counter;
  EXPECT_EQ(counter.count("  a bb\tccc\n"), 3u);
  EXPECT_EQ(counter.count(""), 0u);
  EXPECT_EQ(counter.truncate("a  bb ccc", 2), "a  bb");
  EXPECT_EQ(counter.truncate("a bb", 5), "a bb");
  EXPECT_EQ(counter.count(counter.truncate("one two three", 0)), 0u);
}

TEST(TokenizerCounter, MatchesTokenizerOnLlamaVocab) {
  const auto path = testing::shared_file("models/vocab/ggml-vocab-llama-spm.gguf");
  if (!path) GTEST_SKIP() << "needs ../shared/models/vocab/ggml-vocab-llama-spm.gguf";
  const gguf::GgufFile file = gguf::GgufFile::open(*path);
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_gguf(file);
  const TokenizerCounter counter(tok);
  const std::string text = "Behringer products have a kind of shoddy reputation, but this mixer works well.";
  const std::size_t n = counter.count(text);
  EXPECT_EQ(n, tok.count_tokens(text));
  ASSERT_GT(n, 10u);
  EXPECT_EQ(counter.truncate(text, n), text);
  const std::string cut = counter.truncate(text, 5);
  EXPECT_EQ(counter.count(cut), 5u);
  EXPECT_TRUE(text.starts_with(cut)) << cut;
  // count_prompt adds the BOS token that this vocabulary asks for.
  EXPECT_EQ(counter.count_prompt(text), n + (tok.add_bos() ? 1u : 0u));
}

}  // namespace
}  // namespace qrag::lamp
