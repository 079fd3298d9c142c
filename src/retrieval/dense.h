// Dense retrieval: query and documents embedded by Encoders and ranked by dot product or cosine.
#pragma once

#include <memory>
#include <string>

#include "retrieval/embedding_cache.h"
#include "retrieval/encoder.h"
#include "retrieval/retriever.h"

namespace qrag::retrieval {

enum class Similarity { kDot, kCosine };

struct DenseOptions {
  Similarity similarity = Similarity::kDot;
  std::string query_prefix;  // prepended to the query before embedding, e.g. "query: " (e5)
  std::string doc_prefix;    // prepended to each document, e.g. "passage: "
  std::size_t batch_size = 32;
  std::string model_name;        // as written in the spec; reported by spec()
  std::string query_model_name;  // empty when the query encoder is the document encoder
};

// Ranks documents by similarity of their embeddings to the query's. A separate query
// encoder (DPR) is optional; both must have the same dim(). Empty documents are embedded
// like any other text (an encoder defines their vector) and counted in n_empty_documents.
class DenseRetriever : public Retriever {
 public:
  // query_encoder may be null (then doc_encoder embeds queries too). cache may be null.
  DenseRetriever(std::shared_ptr<Encoder> doc_encoder, std::shared_ptr<Encoder> query_encoder,
                 std::shared_ptr<EmbeddingCache> cache, DenseOptions options);

  RankResult rank(std::string_view query, std::span<const Document> docs, std::size_t k) override;
  std::string spec() const override;

  // All documents' similarities in profile order.
  std::vector<double> score_all(std::string_view query, std::span<const Document> docs);

  const CachedEmbedder& doc_embedder() const { return doc_embedder_; }
  const CachedEmbedder& query_embedder() const { return query_embedder_; }

 private:
  DenseOptions options_;
  CachedEmbedder doc_embedder_;
  CachedEmbedder query_embedder_;
};

}  // namespace qrag::retrieval
