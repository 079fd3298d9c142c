// Analyzers: whitespace (Python str.split), simple, english (stopwords + Snowball) and characters.
#include "retrieval/analyzer.h"

#include <libstemmer.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <utility>

#include "core/check.h"
#include "core/error.h"

namespace qrag::retrieval {
namespace {

// Lucene's English stop set (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET), sorted for binary search.
constexpr std::array<std::string_view, 33> kEnglishStopwords = {
    "a",    "an",   "and",   "are",  "as",    "at",    "be",   "but",  "by",   "for",  "if",
    "in",   "into", "is",    "it",   "no",    "not",   "of",   "on",   "or",   "such", "that",
    "the",  "their", "then", "there", "these", "they", "this", "to",   "was",  "will", "with"};

// One decoded code point: its value (or -1 for an invalid byte) and its byte length.
struct CodePoint {
  utf8proc_int32_t value;
  std::size_t length;
};

CodePoint decode(std::string_view text, std::size_t pos) {
  utf8proc_int32_t value = -1;
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos);
  const utf8proc_ssize_t length = utf8proc_iterate(bytes, static_cast<utf8proc_ssize_t>(text.size() - pos), &value);
  if (length <= 0) return {-1, 1};
  return {value, static_cast<std::size_t>(length)};
}

// Python's str.isspace() set (Python 3.11): the characters str.split() splits on.
bool is_python_space(utf8proc_int32_t c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return true;
  if (c < 0x80) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_alphanumeric(utf8proc_int32_t c) {
  if (c < 0) return false;
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

void append_utf8(std::string& out, utf8proc_int32_t c) {
  std::array<utf8proc_uint8_t, 4> buffer{};
  const utf8proc_ssize_t n = utf8proc_encode_char(c, buffer.data());
  out.append(reinterpret_cast<const char*>(buffer.data()), static_cast<std::size_t>(n));
}

void split_whitespace(std::string_view text, std::vector<std::string>& terms) {
  std::size_t pos = 0;
  std::size_t start = std::string_view::npos;
  while (pos < text.size()) {
    const CodePoint cp = decode(text, pos);
    if (is_python_space(cp.value)) {
      if (start != std::string_view::npos) terms.emplace_back(text.substr(start, pos - start));
      start = std::string_view::npos;
    } else if (start == std::string_view::npos) {
      start = pos;
    }
    pos += cp.length;
  }
  if (start != std::string_view::npos) terms.emplace_back(text.substr(start));
}

// Lowercased runs of letters and digits.
void split_simple(std::string_view text, std::vector<std::string>& terms) {
  std::string current;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const CodePoint cp = decode(text, pos);
    if (is_alphanumeric(cp.value)) {
      append_utf8(current, utf8proc_tolower(cp.value));
    } else if (!current.empty()) {
      terms.push_back(std::move(current));
      current.clear();
    }
    pos += cp.length;
  }
  if (!current.empty()) terms.push_back(std::move(current));
}

void split_characters(std::string_view text, std::vector<std::string>& terms) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const CodePoint cp = decode(text, pos);
    terms.emplace_back(text.substr(pos, cp.length));
    pos += cp.length;
  }
}

}  // namespace

AnalyzerKind parse_analyzer(std::string_view name) {
  if (name == "whitespace") return AnalyzerKind::kWhitespace;
  if (name == "simple") return AnalyzerKind::kSimple;
  if (name == "english") return AnalyzerKind::kEnglish;
  if (name == "characters") return AnalyzerKind::kCharacters;
  throw Error("unknown analyzer '" + std::string(name) +
              "': expected one of whitespace, simple, english, characters");
}

std::string_view analyzer_name(AnalyzerKind kind) {
  switch (kind) {
    case AnalyzerKind::kWhitespace:
      return "whitespace";
    case AnalyzerKind::kSimple:
      return "simple";
    case AnalyzerKind::kEnglish:
      return "english";
    case AnalyzerKind::kCharacters:
      return "characters";
  }
  QRAG_CHECK(false, "unhandled AnalyzerKind");
}

Analyzer::Analyzer(AnalyzerKind kind) : kind_(kind) {
  if (kind_ == AnalyzerKind::kEnglish) {
    stemmer_ = sb_stemmer_new("english", "UTF_8");
    if (stemmer_ == nullptr) throw Error("libstemmer: failed to create the English (UTF-8) Snowball stemmer");
  }
}

Analyzer::~Analyzer() {
  if (stemmer_ != nullptr) sb_stemmer_delete(stemmer_);
}

Analyzer::Analyzer(Analyzer&& other) noexcept
    : kind_(other.kind_), stemmer_(std::exchange(other.stemmer_, nullptr)) {}

Analyzer& Analyzer::operator=(Analyzer&& other) noexcept {
  if (this != &other) {
    if (stemmer_ != nullptr) sb_stemmer_delete(stemmer_);
    kind_ = other.kind_;
    stemmer_ = std::exchange(other.stemmer_, nullptr);
  }
  return *this;
}

void Analyzer::analyze(std::string_view text, std::vector<std::string>& terms) {
  switch (kind_) {
    case AnalyzerKind::kWhitespace:
      split_whitespace(text, terms);
      return;
    case AnalyzerKind::kSimple:
      split_simple(text, terms);
      return;
    case AnalyzerKind::kCharacters:
      split_characters(text, terms);
      return;
    case AnalyzerKind::kEnglish:
      break;
  }
  std::vector<std::string> words;
  split_simple(text, words);
  for (const std::string& word : words) {
    if (std::binary_search(kEnglishStopwords.begin(), kEnglishStopwords.end(), word)) continue;
    const sb_symbol* stemmed =
        sb_stemmer_stem(stemmer_, reinterpret_cast<const sb_symbol*>(word.data()), static_cast<int>(word.size()));
    if (stemmed == nullptr) throw Error("libstemmer: out of memory while stemming '" + word + "'");
    terms.emplace_back(reinterpret_cast<const char*>(stemmed), static_cast<std::size_t>(sb_stemmer_length(stemmer_)));
  }
}

std::vector<std::string> Analyzer::analyze(std::string_view text) {
  std::vector<std::string> terms;
  analyze(text, terms);
  return terms;
}

}  // namespace qrag::retrieval
