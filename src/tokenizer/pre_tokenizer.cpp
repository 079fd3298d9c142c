// Hand-written matchers equivalent to the pre-tokenizer regexes of llama.cpp's BPE vocabularies.
//
// Each matcher returns the length of the match that an ECMAScript regex would find
// starting exactly at `pos` (0 when none), seeing only the range [pos, end).
// Character classes: \p{L}, \p{N}, \p{P} are Unicode general categories and \s is
// the White_Space property, as in llama.cpp's category-collapsed regex engine.
#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <array>
#include <span>
#include <utility>

#include "core/check.h"

namespace qrag::tokenizer {
namespace {

using Matcher = std::size_t (*)(const CodepointText& text, std::size_t pos, std::size_t end);

bool letter(std::uint8_t flags) { return (flags & kFlagLetter) != 0; }
bool number(std::uint8_t flags) { return (flags & kFlagNumber) != 0; }
bool space(std::uint8_t flags) { return (flags & kFlagWhitespace) != 0; }
// [^\s\p{L}\p{N}]
bool other(std::uint8_t flags) { return (flags & (kFlagLetter | kFlagNumber | kFlagWhitespace)) == 0; }
bool newline(char32_t cp) { return cp == '\r' || cp == '\n'; }

template <typename Pred>
std::size_t run_end(const CodepointText& text, std::size_t pos, std::size_t end, Pred pred) {
  while (pos < end && pred(text, pos)) ++pos;
  return pos;
}

bool is_letter_at(const CodepointText& t, std::size_t i) { return letter(t.flags[i]); }
bool is_number_at(const CodepointText& t, std::size_t i) { return number(t.flags[i]); }
bool is_space_at(const CodepointText& t, std::size_t i) { return space(t.flags[i]); }
bool is_other_at(const CodepointText& t, std::size_t i) { return other(t.flags[i]); }

// \s+(?!\S)|\s+ at a whitespace code point: the whole run at the end of the range,
// otherwise the run minus its last code point (which then prefixes the next word).
std::size_t match_space_run(const CodepointText& t, std::size_t pos, std::size_t end) {
  const std::size_t stop = run_end(t, pos, end, is_space_at);
  if (stop == end) return stop - pos;
  return stop - pos > 1 ? stop - pos - 1 : 1;
}

// 's|'t|'re|'ve|'m|'ll|'d, lower case only (GPT-2) or either case (Llama 3).
std::size_t match_contraction(const CodepointText& t, std::size_t pos, std::size_t end, bool any_case) {
  if (t.cps[pos] != '\'' || pos + 1 >= end) return 0;
  auto fold = [any_case](char32_t cp) { return any_case && cp >= 'A' && cp <= 'Z' ? cp + 32 : cp; };
  const char32_t a = fold(t.cps[pos + 1]);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (pos + 2 >= end) return 0;
  const char32_t b = fold(t.cps[pos + 2]);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
std::size_t match_gpt2(const CodepointText& t, std::size_t pos, std::size_t end) {
  if (const std::size_t n = match_contraction(t, pos, end, false)) return n;
  std::size_t p = pos;
  if (t.cps[p] == ' ' && p + 1 < end && !space(t.flags[p + 1])) ++p;
  const std::uint8_t flags = t.flags[p];
  if (letter(flags)) return run_end(t, p, end, is_letter_at) - pos;
  if (number(flags)) return run_end(t, p, end, is_number_at) - pos;
  if (!space(flags)) return run_end(t, p, end, is_other_at) - pos;
  return match_space_run(t, pos, end);
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
template <std::size_t kMaxDigits>
std::size_t match_llama3(const CodepointText& t, std::size_t pos, std::size_t end) {
  if (const std::size_t n = match_contraction(t, pos, end, true)) return n;
  const char32_t cp = t.cps[pos];
  const std::uint8_t flags = t.flags[pos];
  if (letter(flags)) return run_end(t, pos, end, is_letter_at) - pos;
  if (!newline(cp) && !number(flags) && pos + 1 < end && letter(t.flags[pos + 1])) {
    return run_end(t, pos + 1, end, is_letter_at) - pos;
  }
  if (number(flags)) return std::min(run_end(t, pos, end, is_number_at) - pos, kMaxDigits);

  std::size_t p = pos;
  if (cp == ' ' && p + 1 < end && other(t.flags[p + 1])) ++p;
  if (other(t.flags[p])) {
    std::size_t stop = run_end(t, p, end, is_other_at);
    while (stop < end && newline(t.cps[stop])) ++stop;
    return stop - pos;
  }

  // Whitespace: \s*[\r\n]+ ends after the last newline of the run.
  const std::size_t stop = run_end(t, pos, end, is_space_at);
  for (std::size_t i = stop; i > pos; --i) {
    if (newline(t.cps[i - 1])) return i - pos;
  }
  return match_space_run(t, pos, end);
}

template <typename Pred>
std::size_t match_run(const CodepointText& t, std::size_t pos, std::size_t end, Pred pred) {
  std::size_t p = pos;
  while (p < end && pred(t.cps[p], t.flags[p])) ++p;
  return p - pos;
}

bool default_punct(char32_t cp, std::uint8_t flags) {
  return (flags & kFlagPunctuation) != 0 || cp == '$' || cp == '+' || cp == '<' || cp == '=' ||
         cp == '>' || cp == '^' || cp == '~' || cp == '|';
}

// [\p{P}\$\+<=>\^~\|]+
std::size_t match_default_punct(const CodepointText& t, std::size_t pos, std::size_t end) {
  return match_run(t, pos, end, default_punct);
}

// [\p{P}\$\+<=>\^~\|`]+
std::size_t match_falcon_punct(const CodepointText& t, std::size_t pos, std::size_t end) {
  return match_run(t, pos, end, [](char32_t cp, std::uint8_t flags) { return default_punct(cp, flags) || cp == '`'; });
}

// \p{N}+
std::size_t match_numbers(const CodepointText& t, std::size_t pos, std::size_t end) {
  return match_run(t, pos, end, [](char32_t, std::uint8_t flags) { return number(flags); });
}

// \p{N}
std::size_t match_one_number(const CodepointText& t, std::size_t pos, std::size_t /*end*/) {
  return number(t.flags[pos]) ? 1 : 0;
}

// [0-9][0-9][0-9]
std::size_t match_three_digits(const CodepointText& t, std::size_t pos, std::size_t end) {
  if (pos + 3 > end) return 0;
  for (std::size_t i = pos; i < pos + 3; ++i) {
    if (t.cps[i] < '0' || t.cps[i] > '9') return 0;
  }
  return 3;
}

// [\r\n]
std::size_t match_newline(const CodepointText& t, std::size_t pos, std::size_t /*end*/) {
  return newline(t.cps[pos]) ? 1 : 0;
}

// \s+$
std::size_t match_trailing_space(const CodepointText& t, std::size_t pos, std::size_t end) {
  if (!space(t.flags[pos])) return 0;
  return run_end(t, pos, end, is_space_at) == end ? end - pos : 0;
}

using CodepointSpan = std::pair<char32_t, char32_t>;

bool in_ranges(char32_t cp, std::span<const CodepointSpan> ranges) {
  for (const auto& [lo, hi] : ranges) {
    if (cp >= lo && cp <= hi) return true;
  }
  return false;
}

// The cased letters (L&) that DeepSeek LLM's pre-tokenizer lists explicitly.
constexpr CodepointSpan kDeepseekLetters[] = {
    {0x41, 0x5A},       {0x61, 0x7A},       {0xB5, 0xB5},       {0xC0, 0xD6},       {0xD8, 0xF6},
    {0xF8, 0x1BA},      {0x1BC, 0x1BF},     {0x1C4, 0x293},     {0x295, 0x2AF},     {0x370, 0x373},
    {0x376, 0x377},     {0x37B, 0x37D},     {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x38A},
    {0x38C, 0x38C},     {0x38E, 0x3A1},     {0x3A3, 0x3F5},     {0x3F7, 0x481},     {0x48A, 0x52F},
    {0x531, 0x556},     {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},   {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},   {0x1D6B, 0x1D77},   {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},   {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B},   {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},   {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},   {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},   {0x2102, 0x2102},   {0x2107, 0x2107},
    {0x210A, 0x2113},   {0x2115, 0x2115},   {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},
    {0x2128, 0x2128},   {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},   {0x2C00, 0x2C7B},   {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE},   {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},   {0xA680, 0xA69B},   {0xA722, 0xA76F},
    {0xA771, 0xA787},   {0xA78B, 0xA78E},   {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A},   {0xFF41, 0xFF5A},   {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

// ASCII and full-width punctuation, curly quotes and the CJK full stop and comma.
constexpr CodepointSpan kDeepseekPunct[] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
};

// CJK ideographs, everything from U+0800 up to them, and Hangul syllables.
constexpr CodepointSpan kCjk[] = {{0x4E00, 0x9FA5}, {0x800, 0x4E00}, {0xAC00, 0xD7FF}};

// llama.cpp matches these classes with std::wregex after replacing non-ASCII
// whitespace by U+000B, so such whitespace never belongs to a class.
template <const auto& kRanges>
bool in_class(char32_t cp, std::uint8_t flags) {
  if (cp > 0x7F && space(flags)) return false;
  return in_ranges(cp, kRanges);
}

// \s?[class]+
template <const auto& kRanges>
std::size_t match_space_then_class(const CodepointText& t, std::size_t pos, std::size_t end) {
  std::size_t p = pos;
  if (space(t.flags[p]) && p + 1 < end && in_class<kRanges>(t.cps[p + 1], t.flags[p + 1])) ++p;
  const std::size_t n = match_run(t, p, end, in_class<kRanges>);
  return n == 0 ? 0 : p - pos + n;
}

// [class]+
template <const auto& kRanges>
std::size_t match_class(const CodepointText& t, std::size_t pos, std::size_t end) {
  return match_run(t, pos, end, in_class<kRanges>);
}

// \s?\p{L}+ and \s?\p{P}+
template <std::uint8_t kFlag>
std::size_t match_space_then_category(const CodepointText& t, std::size_t pos, std::size_t end) {
  std::size_t p = pos;
  if (space(t.flags[p]) && p + 1 < end && (t.flags[p + 1] & kFlag) != 0) ++p;
  const std::size_t n = match_run(t, p, end, [](char32_t, std::uint8_t flags) { return (flags & kFlag) != 0; });
  return n == 0 ? 0 : p - pos + n;
}

std::span<const Matcher> matchers_for(PreTokenizer pre) {
  static constexpr Matcher kDefault[] = {match_default_punct, match_gpt2, match_numbers, match_three_digits};
  static constexpr Matcher kGpt2[] = {match_gpt2};
  static constexpr Matcher kLlama3[] = {match_llama3<3>};
  static constexpr Matcher kQwen2[] = {match_llama3<1>};
  static constexpr Matcher kFalcon[] = {match_falcon_punct, match_gpt2, match_three_digits};
  static constexpr Matcher kStarcoder[] = {match_one_number, match_gpt2};
  static constexpr Matcher kDeepseekLlm[] = {match_newline,
                                             match_space_then_class<kDeepseekLetters>,
                                             match_space_then_class<kDeepseekPunct>,
                                             match_trailing_space,
                                             match_class<kCjk>,
                                             match_numbers};
  static constexpr Matcher kDeepseekCoder[] = {match_newline, match_space_then_category<kFlagLetter>,
                                               match_space_then_category<kFlagPunctuation>, match_class<kCjk>,
                                               match_one_number};
  switch (pre) {
    case PreTokenizer::kDefault: return kDefault;
    case PreTokenizer::kGpt2: return kGpt2;
    case PreTokenizer::kLlama3: return kLlama3;
    case PreTokenizer::kQwen2: return kQwen2;
    case PreTokenizer::kFalcon: return kFalcon;
    case PreTokenizer::kStarcoder: return kStarcoder;
    case PreTokenizer::kDeepseekLlm: return kDeepseekLlm;
    case PreTokenizer::kDeepseekCoder: return kDeepseekCoder;
  }
  QRAG_CHECK(false, "unhandled pre-tokenizer");
  return {};
}

void split_ranges(Matcher match, const CodepointText& text, const std::vector<CodepointRange>& in,
                  std::vector<CodepointRange>& out) {
  out.clear();
  for (const CodepointRange& range : in) {
    std::size_t gap = range.begin;
    std::size_t pos = range.begin;
    while (pos < range.end) {
      const std::size_t n = match(text, pos, range.end);
      if (n == 0) {
        ++pos;
        continue;
      }
      if (gap < pos) out.push_back({static_cast<std::uint32_t>(gap), static_cast<std::uint32_t>(pos)});
      out.push_back({static_cast<std::uint32_t>(pos), static_cast<std::uint32_t>(pos + n)});
      pos += n;
      gap = pos;
    }
    if (gap < range.end) out.push_back({static_cast<std::uint32_t>(gap), range.end});
  }
}

}  // namespace

void pre_tokenize(PreTokenizer pre, const CodepointText& text, std::vector<CodepointRange>& words,
                  std::vector<CodepointRange>& scratch) {
  words.clear();
  if (text.cps.empty()) return;
  words.push_back({0, static_cast<std::uint32_t>(text.cps.size())});
  for (const Matcher match : matchers_for(pre)) {
    split_ranges(match, text, words, scratch);
    words.swap(scratch);
  }
}

}  // namespace qrag::tokenizer
