// In-memory inverted index with BM25 scoring; the persistent index serialises the same structure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "retrieval/bm25.h"

namespace qrag::retrieval {

// One (document, term frequency) pair of a posting list; lists are sorted by doc.
struct Posting {
  std::uint32_t doc = 0;
  std::uint32_t tf = 0;
};

// Term dictionary + postings + document lengths for up to 2^32-1 documents.
// Immutable after build(); concurrent score() calls are safe. Terms are found by binary
// search over the sorted dictionary.
class InvertedIndex {
 public:
  InvertedIndex() = default;

  // Indexes documents given as term lists (document i gets doc id i).
  static InvertedIndex build(std::span<const std::vector<std::string>> documents);
  // Reassembles an index from its parts (used by the persistent index loader); the
  // caller has validated sizes, sorting and bounds.
  static InvertedIndex from_parts(std::vector<std::string> terms, std::vector<std::uint64_t> offsets,
                                  std::vector<Posting> postings, std::vector<std::uint32_t> doc_lengths);

  std::size_t n_documents() const { return doc_lengths_.size(); }
  std::size_t n_terms() const { return terms_.size(); }
  std::uint64_t total_terms() const { return total_terms_; }
  std::span<const std::uint32_t> doc_lengths() const { return doc_lengths_; }
  // Terms sorted by byte value; term i's postings are postings()[offsets()[i], offsets()[i+1]).
  std::span<const std::string> terms() const { return terms_; }
  std::span<const std::uint64_t> offsets() const { return offsets_; }
  std::span<const Posting> postings() const { return postings_; }

  // The postings of `term`, empty when the term is not in the vocabulary.
  std::span<const Posting> find(std::string_view term) const;

  // Scores every document for the query terms (duplicates count once per occurrence,
  // in query order, as rank_bm25 does). Returns [n_documents] scores.
  std::vector<double> score(std::span<const std::string> query_terms, const Bm25Params& params) const;

 private:
  double idf(const Bm25Params& params, std::size_t df) const;
  void finish();  // computes total_terms_ and okapi_idf_sum_ from the parts

  std::vector<std::string> terms_;
  std::vector<std::uint64_t> offsets_;  // [n_terms + 1]
  std::vector<Posting> postings_;
  std::vector<std::uint32_t> doc_lengths_;  // [n_documents]
  std::uint64_t total_terms_ = 0;
  double okapi_idf_sum_ = 0.0;  // sum over the vocabulary of the unfloored Okapi idf
};

}  // namespace qrag::retrieval
