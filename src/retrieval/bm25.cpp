// BM25 parameters and the per-question BM25 retriever.
#include "retrieval/bm25.h"

#include <fmt/format.h>

#include "core/check.h"
#include "core/error.h"
#include "retrieval/inverted_index.h"

namespace qrag::retrieval {

Bm25Variant parse_bm25_variant(std::string_view name) {
  if (name == "okapi") return Bm25Variant::kOkapi;
  if (name == "lucene") return Bm25Variant::kLucene;
  if (name == "bm25plus") return Bm25Variant::kBm25Plus;
  if (name == "bm25l") return Bm25Variant::kBm25L;
  throw Error("unknown BM25 variant '" + std::string(name) + "': expected one of okapi, lucene, bm25plus, bm25l");
}

std::string_view bm25_variant_name(Bm25Variant variant) {
  switch (variant) {
    case Bm25Variant::kOkapi:
      return "okapi";
    case Bm25Variant::kLucene:
      return "lucene";
    case Bm25Variant::kBm25Plus:
      return "bm25plus";
    case Bm25Variant::kBm25L:
      return "bm25l";
  }
  QRAG_CHECK(false, "unhandled Bm25Variant");
}

Bm25Params Bm25Params::defaults_for(Bm25Variant variant) {
  Bm25Params params;
  params.variant = variant;
  switch (variant) {
    case Bm25Variant::kOkapi:
      break;
    case Bm25Variant::kLucene:
      params.k1 = 0.9;
      params.b = 0.4;
      break;
    case Bm25Variant::kBm25Plus:
      params.delta = 1.0;
      break;
    case Bm25Variant::kBm25L:
      params.delta = 0.5;
      break;
  }
  return params;
}

void Bm25Params::validate() const {
  if (!(k1 >= 0.0)) throw Error(fmt::format("BM25 k1 = {} is invalid: it must be >= 0", k1));
  if (!(b >= 0.0 && b <= 1.0)) throw Error(fmt::format("BM25 b = {} is invalid: it must be in [0, 1]", b));
  if (!(delta >= 0.0)) throw Error(fmt::format("BM25 delta = {} is invalid: it must be >= 0", delta));
  if (!(epsilon >= 0.0)) throw Error(fmt::format("BM25 epsilon = {} is invalid: it must be >= 0", epsilon));
}

Bm25Retriever::Bm25Retriever(Bm25Params params, AnalyzerKind analyzer) : params_(params), analyzer_(analyzer) {
  params_.validate();
}

std::vector<double> Bm25Retriever::score_all(std::string_view query, std::span<const Document> docs) {
  std::vector<std::vector<std::string>> terms(docs.size());
  for (std::size_t i = 0; i < docs.size(); ++i) analyzer_.analyze(docs[i].text, terms[i]);
  const InvertedIndex index = InvertedIndex::build(terms);
  const std::vector<std::string> query_terms = analyzer_.analyze(query);
  return index.score(query_terms, params_);
}

RankResult Bm25Retriever::rank(std::string_view query, std::span<const Document> docs, std::size_t k) {
  RankResult result;
  result.requested_k = k;
  result.n_documents = docs.size();
  std::vector<std::vector<std::string>> terms(docs.size());
  for (std::size_t i = 0; i < docs.size(); ++i) {
    analyzer_.analyze(docs[i].text, terms[i]);
    if (terms[i].empty()) ++result.n_empty_documents;
  }
  const std::vector<std::string> query_terms = analyzer_.analyze(query);
  result.empty_query = query_terms.empty();
  if (docs.empty()) return result;
  const InvertedIndex index = InvertedIndex::build(terms);
  const std::vector<double> scores = index.score(query_terms, params_);
  result.ranking = top_k(scores, k);
  return result;
}

std::string Bm25Retriever::spec() const {
  std::string out = fmt::format("bm25:{}?analyzer={}&k1={}&b={}", bm25_variant_name(params_.variant),
                                analyzer_name(analyzer_.kind()), params_.k1, params_.b);
  if (params_.variant == Bm25Variant::kOkapi) out += fmt::format("&epsilon={}", params_.epsilon);
  if (params_.variant == Bm25Variant::kBm25Plus || params_.variant == Bm25Variant::kBm25L) {
    out += fmt::format("&delta={}", params_.delta);
  }
  return out;
}

}  // namespace qrag::retrieval
