// WordPiece encoding as llama.cpp does it for BERT GGUF files: basic tokenization
// (accent stripping via the first code point of NFD, lower-casing, splitting on
// whitespace, punctuation and CJK ideographs), then greedy longest-match pieces.
// The GGUF vocabulary stores word-initial pieces with a U+2581 prefix and "##"
// continuations without it.
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace qrag::tokenizer {
namespace {

// Words longer than this many code points become [UNK] (BERT's max_input_chars_per_word).
constexpr std::size_t kMaxWordChars = 100;

bool is_chinese_char(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) ||
         (cp >= 0x2B920 && cp <= 0x2CEAF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

struct Word {
  std::string text;
  std::size_t n_chars = 0;
};

std::vector<Word> split_words(std::string_view text) {
  std::vector<Word> words(1);
  std::size_t pos = 0;
  while (pos < text.size()) {
    char32_t cp = 0;
    pos += decode_one(text, pos, cp);
    cp = nfd_base(cp);
    const std::uint8_t flags = codepoint_flags(cp);
    if ((flags & kFlagWhitespace) != 0) {
      if (!words.back().text.empty()) words.emplace_back();
      continue;
    }
    if (cp == 0 || cp == kReplacementChar || (flags & kFlagControl) != 0) continue;

    const bool single = (flags & kFlagPunctuation) != 0 || (cp < 0x7F && (flags & kFlagSymbol) != 0) ||
                        is_chinese_char(cp);
    if (single && !words.back().text.empty()) words.emplace_back();
    append_utf8(to_lower(cp), words.back().text);
    words.back().n_chars++;
    if (single) words.emplace_back();
  }
  if (words.back().text.empty()) words.pop_back();
  return words;
}

}  // namespace

void encode_wordpiece(const Tokenizer::Impl& impl, std::string_view text, std::vector<std::int32_t>& out) {
  const std::int32_t unk = impl.vocab.unk;
  std::string marked;
  for (const Word& word : split_words(text)) {
    const std::size_t first = out.size();
    bool matched_all = word.n_chars <= kMaxWordChars;
    marked = "\xE2\x96\x81" + word.text;  // U+2581 marks the start of a word
    const std::size_t n = marked.size();
    for (std::size_t i = 0; i < n && matched_all;) {
      // Longest vocabulary entry starting at byte i.
      std::size_t j = std::min(n, i + impl.max_token_bytes);
      std::int32_t id = -1;
      for (; j > i; --j) {
        id = impl.find(std::string_view(marked).substr(i, j - i));
        if (id >= 0) break;
      }
      if (id < 0) {
        matched_all = false;
        break;
      }
      out.push_back(id);
      i = j;
    }
    if (!matched_all) {
      out.resize(first);
      if (unk >= 0) out.push_back(unk);
    }
  }
}

}  // namespace qrag::tokenizer
