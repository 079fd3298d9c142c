// Top-k selection shared by all score-based retrievers.
#include "retrieval/retriever.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace qrag::retrieval {

std::vector<Ranked> top_k(std::span<const double> scores, std::size_t k) {
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (std::isnan(scores[i])) {
      throw Error("retrieval: score of document " + std::to_string(i) +
                  " is NaN; check the encoder or the BM25 parameters");
    }
  }
  const std::size_t n = std::min(k, scores.size());
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  const auto better = [&](std::size_t a, std::size_t b) {
    if (scores[a] != scores[b]) return scores[a] > scores[b];
    return a < b;
  };
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(), better);
  std::vector<Ranked> ranking;
  ranking.reserve(n);
  for (std::size_t i = 0; i < n; ++i) ranking.push_back({order[i], scores[order[i]]});
  return ranking;
}

}  // namespace qrag::retrieval
