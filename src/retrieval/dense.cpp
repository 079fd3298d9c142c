// Dense retriever: cached embeddings, then dot-product or cosine similarity ranking.
#include "retrieval/dense.h"

#include <cmath>

#include <fmt/format.h>

#include "core/error.h"

namespace qrag::retrieval {

DenseRetriever::DenseRetriever(std::shared_ptr<Encoder> doc_encoder, std::shared_ptr<Encoder> query_encoder,
                               std::shared_ptr<EmbeddingCache> cache, DenseOptions options)
    : options_(std::move(options)),
      doc_embedder_(doc_encoder, cache, options_.batch_size),
      query_embedder_(query_encoder ? query_encoder : doc_encoder, cache, options_.batch_size) {
  if (doc_embedder_.encoder().dim() != query_embedder_.encoder().dim()) {
    throw Error(fmt::format("dense retriever: query encoder dim {} differs from document encoder dim {}",
                            query_embedder_.encoder().dim(), doc_embedder_.encoder().dim()));
  }
}

std::vector<double> DenseRetriever::score_all(std::string_view query, std::span<const Document> docs) {
  std::vector<double> scores(docs.size(), 0.0);
  if (docs.empty()) return scores;
  std::vector<std::string> texts;
  texts.reserve(docs.size());
  for (const Document& doc : docs) texts.push_back(options_.doc_prefix + doc.text);
  const EmbeddingMatrix doc_vectors = doc_embedder_.embed(texts);
  const std::vector<std::string> query_text = {options_.query_prefix + std::string(query)};
  const EmbeddingMatrix query_vector = query_embedder_.embed(query_text);

  const auto q = query_vector.row(0);
  double q_norm = 0.0;
  for (float v : q) q_norm += static_cast<double>(v) * v;
  q_norm = std::sqrt(q_norm);
  for (std::size_t i = 0; i < docs.size(); ++i) {
    const auto d = doc_vectors.row(i);
    double dot = 0.0;
    double d_norm = 0.0;
    for (std::size_t j = 0; j < d.size(); ++j) {
      dot += static_cast<double>(q[j]) * d[j];
      d_norm += static_cast<double>(d[j]) * d[j];
    }
    if (options_.similarity == Similarity::kCosine) {
      const double denominator = q_norm * std::sqrt(d_norm);
      dot = denominator > 0.0 ? dot / denominator : 0.0;  // a zero vector is similar to nothing
    }
    scores[i] = dot;
  }
  return scores;
}

RankResult DenseRetriever::rank(std::string_view query, std::span<const Document> docs, std::size_t k) {
  RankResult result;
  result.requested_k = k;
  result.n_documents = docs.size();
  result.empty_query = query.empty();
  for (const Document& doc : docs) {
    if (doc.text.empty()) ++result.n_empty_documents;
  }
  if (docs.empty()) return result;
  result.ranking = top_k(score_all(query, docs), k);
  return result;
}

std::string DenseRetriever::spec() const {
  std::string out = fmt::format("dense:{}?similarity={}", percent_encode(options_.model_name),
                                options_.similarity == Similarity::kCosine ? "cosine" : "dot");
  if (!options_.query_model_name.empty()) out += "&query_model=" + percent_encode(options_.query_model_name);
  if (!options_.query_prefix.empty()) out += "&query_prefix=" + percent_encode(options_.query_prefix);
  if (!options_.doc_prefix.empty()) out += "&doc_prefix=" + percent_encode(options_.doc_prefix);
  return out;
}

}  // namespace qrag::retrieval
