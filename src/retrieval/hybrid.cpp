// Reciprocal-rank fusion and weighted min-max score fusion over component retrievers.
#include "retrieval/hybrid.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/check.h"
#include "core/error.h"

namespace qrag::retrieval {

HybridRetriever::HybridRetriever(FusionMethod method, std::vector<std::unique_ptr<Retriever>> components,
                                 std::vector<double> weights, double rrf_k)
    : method_(method), components_(std::move(components)), weights_(std::move(weights)), rrf_k_(rrf_k) {
  if (components_.empty()) throw Error("hybrid retriever needs at least one component");
  if (weights_.empty()) weights_.assign(components_.size(), 1.0);
  if (weights_.size() != components_.size()) {
    throw Error(fmt::format("hybrid retriever: {} weights for {} components", weights_.size(), components_.size()));
  }
}

RankResult HybridRetriever::rank(std::string_view query, std::span<const Document> docs, std::size_t k) {
  RankResult result;
  result.requested_k = k;
  result.n_documents = docs.size();
  std::vector<double> fused(docs.size(), 0.0);
  bool all_queries_empty = true;
  for (std::size_t c = 0; c < components_.size(); ++c) {
    const RankResult part = components_[c]->rank(query, docs, docs.size());
    result.n_empty_documents = std::max(result.n_empty_documents, part.n_empty_documents);
    all_queries_empty = all_queries_empty && part.empty_query;
    if (method_ == FusionMethod::kRrf) {
      // A document a component lists twice (random lamp-compat) counts at its best rank.
      std::vector<bool> seen(docs.size(), false);
      for (std::size_t r = 0; r < part.ranking.size(); ++r) {
        const std::size_t index = part.ranking[r].index;
        QRAG_CHECK(index < docs.size(), "component ranking index out of range");
        if (seen[index]) continue;
        seen[index] = true;
        fused[index] += 1.0 / (rrf_k_ + static_cast<double>(r + 1));
      }
      continue;
    }
    if (part.ranking.empty()) continue;
    double low = part.ranking.front().score;
    double high = low;
    for (const Ranked& item : part.ranking) {
      low = std::min(low, item.score);
      high = std::max(high, item.score);
    }
    if (high == low) continue;  // no information to fuse
    std::vector<bool> seen(docs.size(), false);
    for (const Ranked& item : part.ranking) {
      QRAG_CHECK(item.index < docs.size(), "component ranking index out of range");
      if (seen[item.index]) continue;
      seen[item.index] = true;
      fused[item.index] += weights_[c] * (item.score - low) / (high - low);
    }
  }
  result.empty_query = all_queries_empty;
  result.ranking = top_k(fused, k);
  return result;
}

std::string HybridRetriever::spec() const {
  std::string out = method_ == FusionMethod::kRrf ? "hybrid:rrf(" : "hybrid:weighted(";
  for (std::size_t c = 0; c < components_.size(); ++c) {
    if (c > 0) out += ',';
    out += components_[c]->spec();
  }
  out += ')';
  if (method_ == FusionMethod::kRrf) {
    out += fmt::format("?k={}", rrf_k_);
  } else {
    out += "?weights=";
    for (std::size_t c = 0; c < weights_.size(); ++c) out += fmt::format("{}{}", c > 0 ? "," : "", weights_[c]);
  }
  return out;
}

}  // namespace qrag::retrieval
