// Property tests: inverted-index BM25 scores against a brute-force scorer on random corpora.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <map>
#include <random>

#include "retrieval/inverted_index.h"

namespace qrag::retrieval {
namespace {

using Corpus = std::vector<std::vector<std::string>>;

// Random corpus over a Zipf-like vocabulary of `vocabulary` words; some documents are empty.
Corpus random_corpus(std::mt19937& rng, std::size_t n_docs, std::size_t vocabulary) {
  std::uniform_int_distribution<std::size_t> length(0, 30);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Corpus corpus(n_docs);
  for (auto& doc : corpus) {
    const std::size_t n = length(rng) < 3 ? 0 : length(rng);
    for (std::size_t i = 0; i < n; ++i) {
      const auto word = static_cast<std::size_t>(std::pow(unit(rng), 3.0) * static_cast<double>(vocabulary));
      doc.push_back(fmt::format("w{}", word));
    }
  }
  return corpus;
}

// Straight transcription of the published formulas, one document at a time.
std::vector<double> brute_force(const Corpus& corpus, const std::vector<std::string>& query, const Bm25Params& p) {
  const double n = static_cast<double>(corpus.size());
  std::map<std::string, double> df;
  double total = 0.0;
  for (const auto& doc : corpus) {
    total += static_cast<double>(doc.size());
    std::map<std::string, int> seen;
    for (const auto& t : doc) seen[t] = 1;
    for (const auto& [t, one] : seen) df[t] += one;
  }
  std::vector<double> scores(corpus.size(), 0.0);
  if (total == 0.0) return scores;
  const double avgdl = total / n;
  double idf_sum = 0.0;
  for (const auto& [t, d] : df) idf_sum += std::log(n - d + 0.5) - std::log(d + 0.5);
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    const double dl = static_cast<double>(corpus[i].size());
    for (const auto& q : query) {
      if (!df.contains(q)) continue;
      const double d = df[q];
      double tf = 0.0;
      for (const auto& t : corpus[i]) tf += t == q ? 1.0 : 0.0;
      const double base = 1.0 - p.b + p.b * dl / avgdl;
      switch (p.variant) {
        case Bm25Variant::kOkapi: {
          double idf = std::log(n - d + 0.5) - std::log(d + 0.5);
          if (idf < 0) idf = p.epsilon * idf_sum / static_cast<double>(df.size());
          scores[i] += idf * tf * (p.k1 + 1) / (tf + p.k1 * base);
          break;
        }
        case Bm25Variant::kLucene:
          scores[i] += std::log(1 + (n - d + 0.5) / (d + 0.5)) * tf / (tf + p.k1 * base);
          break;
        case Bm25Variant::kBm25Plus:
          scores[i] += std::log((n + 1) / d) * (p.delta + tf * (p.k1 + 1) / (p.k1 * base + tf));
          break;
        case Bm25Variant::kBm25L: {
          const double ctd = tf / base;
          scores[i] += (std::log(n + 1) - std::log(d + 0.5)) * tf * (p.k1 + 1) * (ctd + p.delta) / (p.k1 + ctd + p.delta);
          break;
        }
      }
    }
  }
  return scores;
}

TEST(InvertedIndex, MatchesBruteForceOnRandomCorpora) {
  std::mt19937 rng(1234);
  const Bm25Variant variants[] = {Bm25Variant::kOkapi, Bm25Variant::kLucene, Bm25Variant::kBm25Plus,
                                  Bm25Variant::kBm25L};
  for (int trial = 0; trial < 60; ++trial) {
    const std::size_t n_docs = 1 + static_cast<std::size_t>(trial) * 7 % 200;
    const Corpus corpus = random_corpus(rng, n_docs, 5 + static_cast<std::size_t>(trial) % 50);
    const InvertedIndex index = InvertedIndex::build(corpus);
    ASSERT_EQ(index.n_documents(), n_docs);
    // Queries mix indexed words, repeated words and unknown words.
    std::vector<std::string> query = {"w0", "w1", "w1", "w3", "unknown", "w7", "w20"};
    for (Bm25Variant variant : variants) {
      SCOPED_TRACE("trial " + std::to_string(trial) + " variant " + std::string(bm25_variant_name(variant)));
      Bm25Params params = Bm25Params::defaults_for(variant);
      params.k1 = 0.5 + 0.1 * (trial % 10);
      const auto expected = brute_force(corpus, query, params);
      const auto actual = index.score(query, params);
      ASSERT_EQ(actual.size(), expected.size());
      // Both sides evaluate the same formulas with a different operation order; the
      // rounding differs by a few ulps per term and vocabulary entry summed.
      const double tolerance = 8.0 * static_cast<double>(query.size() + index.n_terms()) * DBL_EPSILON;
      for (std::size_t i = 0; i < actual.size(); ++i) {
        EXPECT_NEAR(actual[i], expected[i], tolerance * std::max(1.0, std::abs(expected[i]))) << "doc " << i;
      }
    }
  }
}

TEST(InvertedIndex, PostingsAndLookup) {
  const Corpus corpus = {{"a", "b", "a"}, {}, {"b", "c"}};
  const InvertedIndex index = InvertedIndex::build(corpus);
  EXPECT_EQ(index.n_terms(), 3U);
  EXPECT_EQ(index.total_terms(), 5U);
  const auto a = index.find("a");
  ASSERT_EQ(a.size(), 1U);
  EXPECT_EQ(a[0].doc, 0U);
  EXPECT_EQ(a[0].tf, 2U);
  const auto b = index.find("b");
  ASSERT_EQ(b.size(), 2U);
  EXPECT_EQ(b[1].doc, 2U);
  EXPECT_TRUE(index.find("z").empty());
}

TEST(InvertedIndex, AllEmptyDocumentsScoreZero) {
  const Corpus corpus = {{}, {}};
  const InvertedIndex index = InvertedIndex::build(corpus);
  const std::vector<std::string> query = {"a"};
  const auto scores = index.score(query, Bm25Params::defaults_for(Bm25Variant::kBm25Plus));
  EXPECT_EQ(scores, (std::vector<double>{0.0, 0.0}));
}

}  // namespace
}  // namespace qrag::retrieval
