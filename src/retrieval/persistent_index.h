// A BM25 inverted index over a shared corpus, written to and validated on load from a file.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "retrieval/analyzer.h"
#include "retrieval/inverted_index.h"
#include "retrieval/retriever.h"

namespace qrag::retrieval {

// File layout, little-endian (details in docs/retrieval.md): a 64-byte header with the magic
// "QRAGBM25", version, analyzer, counts and the XXH3-64 of the payload. The payload follows:
// document ids, document lengths, the term dictionary, the posting offsets and the postings.
// Immutable once built; search() may be called from several threads at once.
class PersistentIndex {
 public:
  // Analyzes and indexes `docs`, then writes the index to `path` (via a temporary file
  // renamed into place). Throws qrag::Error naming the path on I/O failure.
  static void write(const std::filesystem::path& path, std::span<const Document> docs, AnalyzerKind analyzer);

  // Loads and validates the whole file. A truncated or corrupted file, or one of another
  // format version, throws qrag::Error naming the path, the section and the offending value.
  static PersistentIndex open(const std::filesystem::path& path);

  AnalyzerKind analyzer() const { return analyzer_; }
  const InvertedIndex& index() const { return index_; }
  std::span<const std::string> doc_ids() const { return doc_ids_; }

  // Ranks the whole corpus for `query` (analyzed with the index's analyzer).
  RankResult search(std::string_view query, const Bm25Params& params, std::size_t k) const;

 private:
  AnalyzerKind analyzer_ = AnalyzerKind::kWhitespace;
  InvertedIndex index_;
  std::vector<std::string> doc_ids_;
  std::size_t n_empty_documents_ = 0;
};

}  // namespace qrag::retrieval
