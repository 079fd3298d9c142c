// SentencePiece, BPE and WordPiece on small hand-made vocabularies: merges, fallbacks,
// special tokens, invalid UTF-8 and streaming.
#include "tokenizer/tokenizer.h"

#include <string>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace qrag::tokenizer {
namespace {

using Ids = std::vector<std::int32_t>;

// <unk> <s> </s>, the 256 byte tokens (ids 3..258), then `pieces` with their scores.
Vocab spm_vocab(const std::vector<std::pair<std::string, float>>& pieces) {
  Vocab v;
  v.kind = TokenizerKind::kSentencePiece;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl};
  v.scores = {0, 0, 0};
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(fmt::format("<0x{:02X}>", b));
    v.types.push_back(TokenType::kByte);
    v.scores.push_back(0);
  }
  for (const auto& [text, score] : pieces) {
    v.tokens.push_back(text);
    v.types.push_back(TokenType::kNormal);
    v.scores.push_back(score);
  }
  return v;
}

constexpr std::int32_t kByte0 = 3;  // id of <0x00> in spm_vocab
constexpr std::int32_t kFirstPiece = 259;

Tokenizer small_spm() {
  // ids 259.. : ▁ h e l o ▁h he ll ▁he llo ▁hello w ▁w
  return Tokenizer::from_vocab(spm_vocab({{"\xE2\x96\x81", -1},
                                          {"h", -2},
                                          {"e", -2},
                                          {"l", -2},
                                          {"o", -2},
                                          {"\xE2\x96\x81h", -3},
                                          {"he", -5},
                                          {"ll", -4},
                                          {"\xE2\x96\x81he", -6},
                                          {"llo", -7},
                                          {"\xE2\x96\x81hello", -8},
                                          {"w", -2},
                                          {"\xE2\x96\x81w", -3}}));
}

TEST(Spm, MergesByScore) {
  const Tokenizer tok = small_spm();
  EXPECT_EQ(tok.encode("hello", false, false), Ids{kFirstPiece + 10});
  EXPECT_EQ(tok.encode("hello", true, false), (Ids{1, kFirstPiece + 10}));
  EXPECT_EQ(tok.decode(Ids{1, kFirstPiece + 10}, false), " hello");
  EXPECT_EQ(tok.decode(Ids{kFirstPiece + 10}, false), "hello");
  EXPECT_EQ(tok.decode(Ids{1, kFirstPiece + 10}, true), "<s> hello");
}

TEST(Spm, ByteFallback) {
  const Tokenizer tok = small_spm();
  // "é" is not a piece: its UTF-8 bytes C3 A9 become byte tokens.
  EXPECT_EQ(tok.encode("h\xC3\xA9", false, false), (Ids{kFirstPiece + 5, kByte0 + 0xC3, kByte0 + 0xA9}));
  EXPECT_EQ(tok.decode(tok.encode("h\xC3\xA9", false, false), false), "h\xC3\xA9");
}

TEST(Spm, InvalidUtf8RoundTrips) {
  const Tokenizer tok = small_spm();
  const std::string text = "he\xFF\xC3 w\x80";
  const Ids ids = tok.encode(text, false, false);
  EXPECT_FALSE(ids.empty());
  EXPECT_EQ(tok.decode(ids, false), text);
}

TEST(Spm, SpecialTokensOnlyOnRequest) {
  const Tokenizer tok = small_spm();
  const Ids plain = tok.encode("<s>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 1), 0);
  // Parsed: the special token, then the text after it gets the space prefix again.
  EXPECT_EQ(tok.encode("<s>hello", false, true), (Ids{1, kFirstPiece + 10}));
}

TEST(Spm, SpecialIdsAndEog) {
  const Tokenizer tok = small_spm();
  EXPECT_EQ(tok.bos(), 1);
  EXPECT_EQ(tok.eos(), 2);
  EXPECT_EQ(tok.unk(), 0);
  EXPECT_TRUE(tok.add_bos());
  EXPECT_FALSE(tok.add_eos());
  EXPECT_TRUE(tok.is_eog(2));
  EXPECT_FALSE(tok.is_eog(1));
  EXPECT_THROW(tok.piece(-1), Error);
  EXPECT_THROW(tok.decode(Ids{tok.n_vocab()}, false), Error);
}

// The 256 byte-level symbols, then merges built from `merges`.
Vocab bpe_vocab(const std::vector<std::string>& merges, std::string pre = "gpt-2") {
  Vocab v;
  v.kind = TokenizerKind::kBytePairEncoding;
  for (int b = 0; b < 256; ++b) {
    std::string symbol;
    append_utf8(byte_to_codepoint()[static_cast<std::size_t>(b)], symbol);
    v.tokens.push_back(symbol);
  }
  for (const std::string& merge : merges) {
    const std::size_t space = merge.find(' ', 1);
    v.tokens.push_back(merge.substr(0, space) + merge.substr(space + 1));
    v.merges.push_back(merge);
  }
  v.tokens.push_back("<|endoftext|>");
  v.types.assign(v.tokens.size(), TokenType::kNormal);
  v.types.back() = TokenType::kControl;
  v.eos = static_cast<std::int32_t>(v.tokens.size()) - 1;
  v.pre = std::move(pre);
  return v;
}

TEST(Bpe, MergesByRank) {
  // "Ġ" (U+0120) is the byte-level symbol of a space.
  const Tokenizer tok = Tokenizer::from_vocab(bpe_vocab({"l l", "h e", "he ll", "hell o", "\xC4\xA0 w"}));
  EXPECT_EQ(tok.encode("hello", false, false), Ids{259});  // hello
  // " world": the pre-tokenizer keeps the space with the word; only "Ġw" merges.
  EXPECT_EQ(tok.encode(" wo", false, false), (Ids{260, 'o'}));
  EXPECT_EQ(tok.decode(tok.encode("hello wo", false, false), false), "hello wo");
}

TEST(Bpe, RankOrderDecides) {
  // With "e l" ranked before "l l", "hell" cannot form "ll".
  const Tokenizer tok = Tokenizer::from_vocab(bpe_vocab({"e l", "l l", "h el"}));
  EXPECT_EQ(tok.encode("hell", false, false), (Ids{258, 'l'}));  // "hel" + "l"
}

TEST(Bpe, InvalidUtf8RoundTrips) {
  const Tokenizer tok = Tokenizer::from_vocab(bpe_vocab({"l l"}));
  const std::string text = "a\xFF\xFE b\xC3";
  EXPECT_EQ(tok.decode(tok.encode(text, false, false), false), text);
}

TEST(Bpe, SpecialTokenParsing) {
  const Tokenizer tok = Tokenizer::from_vocab(bpe_vocab({"l l"}));
  const std::int32_t eot = tok.n_vocab() - 1;
  EXPECT_EQ(tok.encode("a<|endoftext|>", false, true), (Ids{'a', eot}));
  EXPECT_GT(tok.encode("a<|endoftext|>", false, false).size(), 2u);
  EXPECT_EQ(tok.decode(Ids{'a', eot}, false), "a");
  EXPECT_EQ(tok.decode(Ids{'a', eot}, true), "a<|endoftext|>");
  EXPECT_TRUE(tok.is_eog(eot));
}

TEST(Bpe, UnknownPreTokenizerNamesValue) {
  try {
    Tokenizer::from_vocab(bpe_vocab({}, "mystery-pre"));
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("mystery-pre"), std::string::npos) << error.what();
  }
  TokenizerOptions options;
  options.force_pre_tokenizer = "llama-bpe";
  const Tokenizer tok = Tokenizer::from_vocab(bpe_vocab({}, "mystery-pre"), options);
  EXPECT_EQ(tok.pre_tokenizer(), PreTokenizer::kLlama3);
}

TEST(Bpe, InconsistentMergeRejected) {
  Vocab v = bpe_vocab({"l l"});
  v.merges.push_back("x zz");
  EXPECT_THROW(Tokenizer::from_vocab(v), Error);
}

Tokenizer small_wordpiece() {
  Vocab v;
  v.kind = TokenizerKind::kWordPiece;
  v.tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "\xE2\x96\x81hello", "\xE2\x96\x81world",
              "s",     "\xE2\x96\x81,", "\xE2\x96\x81!", "\xE2\x96\x81un", "aff", "able", "\xE2\x96\x81\xE4\xB8\xAD"};
  v.types.assign(v.tokens.size(), TokenType::kNormal);
  for (int i = 0; i < 5; ++i) v.types[static_cast<std::size_t>(i)] = TokenType::kControl;
  return Tokenizer::from_vocab(v);
}

TEST(WordPiece, BasicTokenization) {
  const Tokenizer tok = small_wordpiece();
  // Lower-casing, accent stripping, punctuation split, continuation piece "s".
  EXPECT_EQ(tok.encode("H\xC3\xA9llo, Worlds!", true, false), (Ids{2, 5, 8, 6, 7, 9, 3}));
  EXPECT_EQ(tok.encode("unaffable", false, false), (Ids{10, 11, 12}));
  EXPECT_EQ(tok.decode(Ids{2, 5, 8, 6, 7, 9, 3}, false), " hello, worlds!");
}

TEST(WordPiece, UnknownAndOverlongWords) {
  const Tokenizer tok = small_wordpiece();
  EXPECT_EQ(tok.encode("hello xyz", false, false), (Ids{5, 1}));
  std::string long_word = "un";
  for (int i = 0; i < 40; ++i) long_word += "aff";  // 122 characters, all pieces known
  EXPECT_EQ(tok.encode(long_word, false, false), Ids{1});
}

TEST(WordPiece, CjkSplitAndInvalidUtf8) {
  const Tokenizer tok = small_wordpiece();
  EXPECT_EQ(tok.encode("\xE4\xB8\xAD\xE4\xB8\xAD", false, false), (Ids{13, 13}));
  EXPECT_EQ(tok.encode("hello\xFF", false, false), Ids{5});  // invalid bytes are dropped
}

TEST(Detokenizer, HoldsBackSplitCharacter) {
  const Tokenizer tok = small_spm();
  Detokenizer stream(tok);
  EXPECT_EQ(stream.push(kFirstPiece + 10), " hello");  // streaming keeps the space prefix
  EXPECT_EQ(stream.push(kByte0 + 0xF0), "");
  EXPECT_EQ(stream.push(kByte0 + 0x9F), "");
  EXPECT_EQ(stream.push(kByte0 + 0xA4), "");
  EXPECT_EQ(stream.push(kByte0 + 0x96), "\xF0\x9F\xA4\x96");
  EXPECT_EQ(stream.push(1), "");  // control token dropped
  EXPECT_EQ(stream.finish(), "");
}

TEST(Detokenizer, FinishReplacesIncomplete) {
  const Tokenizer tok = small_spm();
  Detokenizer stream(tok);
  EXPECT_EQ(stream.push(kByte0 + 0xC3), "");
  EXPECT_EQ(stream.finish(), "\xEF\xBF\xBD");
  // A byte that can never start a character is emitted (replaced) at once.
  EXPECT_EQ(stream.push(kByte0 + 0xFF), "\xEF\xBF\xBD");
}

TEST(Utf8, CompletePrefix) {
  EXPECT_EQ(complete_utf8_prefix("ab"), 2u);
  EXPECT_EQ(complete_utf8_prefix("a\xE0"), 1u);  // E0 may still be followed by A0..BF
  EXPECT_EQ(complete_utf8_prefix("a\xE0\xA0"), 1u);
  EXPECT_EQ(complete_utf8_prefix("a\xE0\x80"), 3u);  // overlong: never valid
  EXPECT_EQ(complete_utf8_prefix("a\xF0\x9F\xA4"), 1u);
  EXPECT_EQ(complete_utf8_prefix("\xC3\xA9"), 2u);
}

TEST(Vocab, ValidatesIds) {
  Vocab v = spm_vocab({});
  v.bos = 100000;
  EXPECT_THROW(Tokenizer::from_vocab(v), Error);
  Vocab empty;
  EXPECT_THROW(Tokenizer::from_vocab(empty), Error);
  Vocab bad_scores = spm_vocab({});
  bad_scores.scores.pop_back();
  EXPECT_THROW(Tokenizer::from_vocab(bad_scores), Error);
}

}  // namespace
}  // namespace qrag::tokenizer
