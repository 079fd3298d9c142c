// Random bytes and multi-byte text through the real vocabularies: no crash, exact
// round trips where the algorithm allows them, and valid UTF-8 from streaming.
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/test_paths.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace qrag::tokenizer {
namespace {

std::optional<Tokenizer> load(const std::string& name) {
  const auto path = testing::shared_file("models/vocab/ggml-vocab-" + name + ".gguf");
  if (!path) return std::nullopt;
  const gguf::GgufFile file = gguf::GgufFile::open(*path);
  return Tokenizer::from_gguf(file);
}

// Random strings mixing ASCII, valid multi-byte characters and arbitrary bytes.
// SentencePiece decodes U+2581 as a space, so its round trip needs texts without it.
std::vector<std::string> random_texts(std::size_t count, bool with_space_marker) {
  std::mt19937 rng(1234);
  std::vector<std::string> atoms = {"a",          "Z",           " ",        "  ",        "\n", "\t", "9",
                                    ".",          "'s",          "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\xA4\x96", "<s>"};
  if (with_space_marker) atoms.push_back("\xE2\x96\x81");
  std::uniform_int_distribution<int> length(0, 40);
  std::uniform_int_distribution<std::size_t> pick(0, atoms.size());  // atoms.size() means a random byte
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < count; ++i) {
    std::string text;
    for (int n = length(rng); n > 0; --n) {
      const std::size_t k = pick(rng);
      if (k == atoms.size()) {
        text.push_back(static_cast<char>(byte(rng)));
      } else {
        text += atoms[k];
      }
    }
    texts.push_back(text);
  }
  return texts;
}

bool valid_utf8(const std::string& text) { return sanitize_utf8(text) == text; }

TEST(Robustness, SpmRoundTripsAnyBytes) {
  const auto tok = load("llama-spm");
  if (!tok) GTEST_SKIP() << "needs ../shared/models/vocab/ggml-vocab-llama-spm.gguf";
  for (const std::string& text : random_texts(300, false)) {
    const auto ids = tok->encode(text, true, false);
    EXPECT_EQ(tok->decode(tok->encode(text, false, false), false), text);
    for (const std::int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok->n_vocab());
  }
}

TEST(Robustness, BpeRoundTripsAnyBytes) {
  // Qwen2 keeps spaces as they are when decoding, so every byte string round-trips.
  const auto tok = load("qwen2");
  if (!tok) GTEST_SKIP() << "needs ../shared/models/vocab/ggml-vocab-qwen2.gguf";
  for (const std::string& text : random_texts(300, true)) {
    EXPECT_EQ(tok->decode(tok->encode(text, false, false), false), text);
  }
}

TEST(Robustness, WordPieceNeverFails) {
  const auto tok = load("bert-bge");
  if (!tok) GTEST_SKIP() << "needs ../shared/models/vocab/ggml-vocab-bert-bge.gguf";
  for (const std::string& text : random_texts(300, true)) {
    const auto ids = tok->encode(text, true, false);
    ASSERT_GE(ids.size(), 2u);
    EXPECT_EQ(ids.front(), tok->cls());
    EXPECT_EQ(ids.back(), tok->sep());
  }
}

TEST(Robustness, StreamingYieldsValidUtf8) {
  const auto tok = load("llama-spm");
  if (!tok) GTEST_SKIP() << "needs ../shared/models/vocab/ggml-vocab-llama-spm.gguf";
  const std::string text = "Emoji: \xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD and \xE4\xB8\xAD\xE6\x96\x87 caf\xC3\xA9";
  const auto ids = tok->encode(text, false, false);
  Detokenizer stream(*tok);
  std::string joined;
  for (const std::int32_t id : ids) {
    const std::string part = stream.push(id);
    EXPECT_TRUE(valid_utf8(part)) << "after id " << id;
    joined += part;
  }
  joined += stream.finish();
  EXPECT_EQ(joined, " " + text);  // streaming keeps the SentencePiece space prefix
}

}  // namespace
}  // namespace qrag::tokenizer
