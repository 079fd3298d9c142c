// Pre-tokenizer splits on hand-checked inputs, one pattern family at a time.
#include "tokenizer/pre_tokenizer.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace qrag::tokenizer {
namespace {

std::vector<std::string> split(PreTokenizer pre, const std::string& text) {
  CodepointText cps;
  decode_utf8(text, cps);
  std::vector<CodepointRange> words;
  std::vector<CodepointRange> scratch;
  pre_tokenize(pre, cps, words, scratch);
  std::vector<std::string> out;
  for (const CodepointRange& r : words) {
    out.push_back(text.substr(cps.offsets[r.begin], cps.offsets[r.end] - cps.offsets[r.begin]));
  }
  return out;
}

using Words = std::vector<std::string>;

TEST(PreTokenizer, Gpt2) {
  EXPECT_EQ(split(PreTokenizer::kGpt2, "I'm  fine, 2024!\n"),
            (Words{"I", "'m", " ", " fine", ",", " 2024", "!", "\n"}));
  EXPECT_EQ(split(PreTokenizer::kGpt2, "a   b  "), (Words{"a", "  ", " b", "  "}));
  EXPECT_EQ(split(PreTokenizer::kGpt2, "x\tb"), (Words{"x", "\t", "b"}));
  EXPECT_EQ(split(PreTokenizer::kGpt2, "caf\xC3\xA9 \xC3\xBC"), (Words{"caf\xC3\xA9", " \xC3\xBC"}));
  EXPECT_EQ(split(PreTokenizer::kGpt2, "I'M"), (Words{"I", "'", "M"}));  // contractions are lower case only
}

TEST(PreTokenizer, Llama3) {
  EXPECT_EQ(split(PreTokenizer::kLlama3, "I'M 1234567 ok\n\n  x"),
            (Words{"I", "'M", " ", "123", "456", "7", " ok", "\n\n", " ", " x"}));
  EXPECT_EQ(split(PreTokenizer::kLlama3, "(hi)...\n"), (Words{"(hi", ")...\n"}));
  EXPECT_EQ(split(PreTokenizer::kLlama3, "a \n b"), (Words{"a", " \n", " b"}));
}

TEST(PreTokenizer, Qwen2SingleDigits) {
  EXPECT_EQ(split(PreTokenizer::kQwen2, "v0.21"), (Words{"v", "0", ".", "2", "1"}));
}

TEST(PreTokenizer, DefaultSplitsPunctuationFirst) {
  EXPECT_EQ(split(PreTokenizer::kDefault, "a,b 12345"), (Words{"a", ",", "b", " ", "123", "45"}));
}

TEST(PreTokenizer, FalconAndStarcoder) {
  EXPECT_EQ(split(PreTokenizer::kFalcon, "x=`1234`"), (Words{"x", "=`", "123", "4", "`"}));
  EXPECT_EQ(split(PreTokenizer::kStarcoder, "ab 12"), (Words{"ab", " ", "1", "2"}));
}

TEST(PreTokenizer, DeepseekLlm) {
  EXPECT_EQ(split(PreTokenizer::kDeepseekLlm, "Hi, \xE4\xB8\xAD\xE6\x96\x87 42\n"),
            (Words{"Hi", ",", " ", "\xE4\xB8\xAD\xE6\x96\x87", " ", "42", "\n"}));
}

TEST(PreTokenizer, DeepseekCoder) {
  EXPECT_EQ(split(PreTokenizer::kDeepseekCoder, "if x: 12"), (Words{"if", " x", ":", " ", "1", "2"}));
}

TEST(PreTokenizer, Empty) { EXPECT_TRUE(split(PreTokenizer::kLlama3, "").empty()); }

}  // namespace
}  // namespace qrag::tokenizer
