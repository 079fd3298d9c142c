// Text analyzers that turn a query or document into BM25 terms.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct sb_stemmer;

namespace qrag::retrieval {

enum class AnalyzerKind {
  kWhitespace,  // split on ASCII whitespace, case kept (Python str.split(), as LaMP tokenizes)
  kSimple,      // Unicode lowercase, split on anything that is not a letter or a digit
  kEnglish,     // simple + English stopword removal + Snowball English stemming (libstemmer)
  kCharacters,  // every Unicode code point (spaces included) is a term: compatibility mode
                // for code that passed raw strings to rank_bm25 where token lists were expected
};

// Parses "whitespace|simple|english|characters"; throws qrag::Error naming the value otherwise.
AnalyzerKind parse_analyzer(std::string_view name);
std::string_view analyzer_name(AnalyzerKind kind);

// Owns a stemmer for kEnglish. analyze() is not thread-safe (libstemmer keeps state in
// the stemmer object); use one Analyzer per thread.
class Analyzer {
 public:
  explicit Analyzer(AnalyzerKind kind);
  ~Analyzer();
  Analyzer(Analyzer&&) noexcept;
  Analyzer& operator=(Analyzer&&) noexcept;
  Analyzer(const Analyzer&) = delete;
  Analyzer& operator=(const Analyzer&) = delete;

  AnalyzerKind kind() const { return kind_; }

  // Appends the terms of `text` to `terms` in text order (duplicates kept).
  // Invalid UTF-8 bytes are kept as one-byte terms or characters, never dropped silently.
  void analyze(std::string_view text, std::vector<std::string>& terms);
  std::vector<std::string> analyze(std::string_view text);

 private:
  AnalyzerKind kind_;
  sb_stemmer* stemmer_ = nullptr;
};

}  // namespace qrag::retrieval
