// BM25 variants (rank_bm25's Okapi, Plus and L; Lucene's BM25) and the per-question BM25 retriever.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "retrieval/analyzer.h"
#include "retrieval/retriever.h"

namespace qrag::retrieval {

enum class Bm25Variant {
  kOkapi,     // rank_bm25 0.2.2 BM25Okapi: idf = ln(N-df+0.5) - ln(df+0.5), negative idf
              // replaced by epsilon * mean idf over the vocabulary
  kLucene,    // Lucene >= 8 BM25Similarity: idf = ln(1 + (N-df+0.5)/(df+0.5)),
              // tf / (tf + k1*(1-b+b*dl/avgdl)), exact document lengths
  kBm25Plus,  // rank_bm25 BM25Plus: idf = ln((N+1)/df), idf * (delta + tf(k1+1)/(k1*norm+tf))
  kBm25L,     // rank_bm25 BM25L: idf = ln(N+1) - ln(df+0.5), ctd = tf/norm,
              // idf * tf(k1+1)(ctd+delta)/(k1+ctd+delta)
};

Bm25Variant parse_bm25_variant(std::string_view name);  // "okapi|lucene|bm25plus|bm25l"
std::string_view bm25_variant_name(Bm25Variant variant);

// Parameters; defaults_for() gives each variant's published defaults
// (okapi k1=1.5 b=0.75 epsilon=0.25; lucene k1=0.9 b=0.4; bm25plus k1=1.5 b=0.75 delta=1;
// bm25l k1=1.5 b=0.75 delta=0.5).
struct Bm25Params {
  Bm25Variant variant = Bm25Variant::kOkapi;
  double k1 = 1.5;
  double b = 0.75;
  double delta = 0.0;
  double epsilon = 0.25;

  static Bm25Params defaults_for(Bm25Variant variant);
  // Throws qrag::Error when k1 < 0, b outside [0, 1], delta < 0 or epsilon < 0.
  void validate() const;
};

// Builds an in-memory inverted index of the profile on every rank() call (profiles differ
// per question) and scores it with the exact operation order of the reference formulas.
class Bm25Retriever : public Retriever {
 public:
  Bm25Retriever(Bm25Params params, AnalyzerKind analyzer);

  RankResult rank(std::string_view query, std::span<const Document> docs, std::size_t k) override;
  std::string spec() const override;

  // All documents' scores in profile order (what rank() sorts); for tests and fusion.
  std::vector<double> score_all(std::string_view query, std::span<const Document> docs);

 private:
  Bm25Params params_;
  Analyzer analyzer_;
};

}  // namespace qrag::retrieval
