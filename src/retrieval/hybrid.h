// Hybrid retrieval: reciprocal-rank fusion or a weighted sum of min-max-normalised scores.
#pragma once

#include <memory>
#include <vector>

#include "retrieval/retriever.h"

namespace qrag::retrieval {

enum class FusionMethod {
  kRrf,       // score = sum over retrievers of 1 / (rrf_k + rank), rank counted from 1
  kWeighted,  // score = sum of weight_i * (s - min) / (max - min); a retriever whose scores
              // are all equal contributes 0
};

// Ranks the whole profile with every component retriever, then fuses. Ties keep profile
// order. Owns its components.
class HybridRetriever : public Retriever {
 public:
  // weights: one per component for kWeighted (empty = all 1); ignored for kRrf.
  HybridRetriever(FusionMethod method, std::vector<std::unique_ptr<Retriever>> components,
                  std::vector<double> weights, double rrf_k = 60.0);

  RankResult rank(std::string_view query, std::span<const Document> docs, std::size_t k) override;
  std::string spec() const override;

 private:
  FusionMethod method_;
  std::vector<std::unique_ptr<Retriever>> components_;
  std::vector<double> weights_;
  double rrf_k_;
};

}  // namespace qrag::retrieval
