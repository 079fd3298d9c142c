// Inverted index construction and BM25 scoring in the reference implementations' operation order.
#include "retrieval/inverted_index.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "core/check.h"
#include "core/error.h"

namespace qrag::retrieval {

InvertedIndex InvertedIndex::build(std::span<const std::vector<std::string>> documents) {
  if (documents.size() >= std::numeric_limits<std::uint32_t>::max()) {
    throw Error("inverted index: " + std::to_string(documents.size()) +
                " documents exceed the limit of 2^32-1; split the corpus");
  }
  // Term ids are assigned in first-seen order. Postings grow in document order, so a term
  // repeated within a document only increments the last posting's tf.
  std::unordered_map<std::string_view, std::uint32_t> ids;
  std::vector<std::string_view> seen_terms;
  std::vector<std::vector<Posting>> lists;
  InvertedIndex index;
  index.doc_lengths_.reserve(documents.size());
  for (std::size_t d = 0; d < documents.size(); ++d) {
    const auto& terms = documents[d];
    if (terms.size() >= std::numeric_limits<std::uint32_t>::max()) {
      throw Error("inverted index: document " + std::to_string(d) + " has " + std::to_string(terms.size()) +
                  " terms, above the limit of 2^32-1");
    }
    index.doc_lengths_.push_back(static_cast<std::uint32_t>(terms.size()));
    for (const std::string& term : terms) {
      const auto [it, inserted] = ids.try_emplace(term, static_cast<std::uint32_t>(lists.size()));
      if (inserted) {
        seen_terms.push_back(term);
        lists.emplace_back();
      }
      auto& list = lists[it->second];
      if (!list.empty() && list.back().doc == d) {
        ++list.back().tf;
      } else {
        list.push_back({static_cast<std::uint32_t>(d), 1});
      }
    }
  }

  std::vector<std::uint32_t> order(seen_terms.size());
  std::iota(order.begin(), order.end(), 0U);
  std::sort(order.begin(), order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return seen_terms[a] < seen_terms[b]; });
  std::size_t n_postings = 0;
  for (const auto& list : lists) n_postings += list.size();
  index.terms_.reserve(order.size());
  index.offsets_.reserve(order.size() + 1);
  index.postings_.reserve(n_postings);
  index.offsets_.push_back(0);
  for (std::uint32_t id : order) {
    index.terms_.emplace_back(seen_terms[id]);
    index.postings_.insert(index.postings_.end(), lists[id].begin(), lists[id].end());
    index.offsets_.push_back(index.postings_.size());
  }
  index.finish();
  return index;
}

InvertedIndex InvertedIndex::from_parts(std::vector<std::string> terms, std::vector<std::uint64_t> offsets,
                                        std::vector<Posting> postings, std::vector<std::uint32_t> doc_lengths) {
  QRAG_CHECK(offsets.size() == terms.size() + 1, "offsets must have n_terms + 1 entries");
  QRAG_CHECK(offsets.back() == postings.size(), "last offset must equal the posting count");
  InvertedIndex index;
  index.terms_ = std::move(terms);
  index.offsets_ = std::move(offsets);
  index.postings_ = std::move(postings);
  index.doc_lengths_ = std::move(doc_lengths);
  index.finish();
  return index;
}

void InvertedIndex::finish() {
  if (offsets_.empty()) offsets_.push_back(0);
  total_terms_ = 0;
  for (std::uint32_t length : doc_lengths_) total_terms_ += length;
  // rank_bm25 averages the unfloored Okapi idf over the whole vocabulary.
  const double n = static_cast<double>(doc_lengths_.size());
  okapi_idf_sum_ = 0.0;
  for (std::size_t t = 0; t < terms_.size(); ++t) {
    const double df = static_cast<double>(offsets_[t + 1] - offsets_[t]);
    okapi_idf_sum_ += std::log(n - df + 0.5) - std::log(df + 0.5);
  }
}

std::span<const Posting> InvertedIndex::find(std::string_view term) const {
  const auto it = std::lower_bound(terms_.begin(), terms_.end(), term,
                                   [](const std::string& a, std::string_view b) { return a < b; });
  if (it == terms_.end() || *it != term) return {};
  const auto t = static_cast<std::size_t>(it - terms_.begin());
  return std::span<const Posting>(postings_).subspan(offsets_[t], offsets_[t + 1] - offsets_[t]);
}

double InvertedIndex::idf(const Bm25Params& params, std::size_t df_count) const {
  const double n = static_cast<double>(doc_lengths_.size());
  const double df = static_cast<double>(df_count);
  switch (params.variant) {
    case Bm25Variant::kOkapi: {
      const double raw = std::log(n - df + 0.5) - std::log(df + 0.5);
      if (raw >= 0.0) return raw;
      const double mean = okapi_idf_sum_ / static_cast<double>(terms_.size());
      return params.epsilon * mean;
    }
    case Bm25Variant::kLucene:
      return std::log(1.0 + (n - df + 0.5) / (df + 0.5));
    case Bm25Variant::kBm25Plus:
      return std::log((n + 1.0) / df);
    case Bm25Variant::kBm25L:
      return std::log(n + 1.0) - std::log(df + 0.5);
  }
  QRAG_CHECK(false, "unhandled Bm25Variant");
}

namespace {

// One query term's contribution to a document with term frequency tf and length
// normaliser norm = k1 * ((1 - b) + b * dl / avgdl) (for BM25L: (1 - b) + b * dl / avgdl).
// The operation order follows rank_bm25 0.2.2 so that scores agree to the last bits.
double term_score(const Bm25Params& p, double idf, double tf, double norm) {
  switch (p.variant) {
    case Bm25Variant::kOkapi:
      return idf * (tf * (p.k1 + 1.0) / (tf + norm));
    case Bm25Variant::kLucene:
      return idf * (tf / (tf + norm));
    case Bm25Variant::kBm25Plus: {
      const double denominator = norm + tf;
      const double fraction = denominator == 0.0 ? 0.0 : (tf * (p.k1 + 1.0)) / denominator;
      return idf * (p.delta + fraction);
    }
    case Bm25Variant::kBm25L: {
      const double ctd = tf / norm;
      return idf * tf * (p.k1 + 1.0) * (ctd + p.delta) / (p.k1 + ctd + p.delta);
    }
  }
  QRAG_CHECK(false, "unhandled Bm25Variant");
}

}  // namespace

std::vector<double> InvertedIndex::score(std::span<const std::string> query_terms, const Bm25Params& params) const {
  const std::size_t n = doc_lengths_.size();
  std::vector<double> scores(n, 0.0);
  // Without any term the reference divides by zero; every document scores 0 here.
  if (n == 0 || total_terms_ == 0) return scores;
  const double avgdl = static_cast<double>(total_terms_) / static_cast<double>(n);

  std::vector<double> norm(n);
  for (std::size_t d = 0; d < n; ++d) {
    const double length_ratio = (params.b * static_cast<double>(doc_lengths_[d])) / avgdl;
    const double base = (1.0 - params.b) + length_ratio;
    norm[d] = params.variant == Bm25Variant::kBm25L ? base : params.k1 * base;
  }

  for (const std::string& term : query_terms) {
    const auto postings = find(term);
    if (postings.empty()) continue;  // idf.get(q) or 0 in the reference: adds nothing
    const double term_idf = idf(params, postings.size());
    if (params.variant != Bm25Variant::kBm25Plus) {
      // Documents without the term add exactly 0 in these variants.
      for (const Posting& posting : postings) {
        scores[posting.doc] += term_score(params, term_idf, static_cast<double>(posting.tf), norm[posting.doc]);
      }
      continue;
    }
    // BM25Plus gives every document idf * delta for each query term in the vocabulary.
    std::size_t next = 0;
    for (std::size_t d = 0; d < n; ++d) {
      double tf = 0.0;
      if (next < postings.size() && postings[next].doc == d) tf = static_cast<double>(postings[next++].tf);
      scores[d] += term_score(params, term_idf, tf, norm[d]);
    }
  }
  return scores;
}

}  // namespace qrag::retrieval
