// Recency and random retrievers, and CPython-compatible random draws against recorded goldens.
#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "common/test_paths.h"
#include "core/error.h"
#include "retrieval/baselines.h"

namespace qrag::retrieval {
namespace {

std::vector<std::size_t> indices(const RankResult& result) {
  std::vector<std::size_t> out;
  for (const Ranked& item : result.ranking) out.push_back(item.index);
  return out;
}

TEST(Recency, NewestFirstTiesInOrderUndatedLast) {
  const std::vector<Document> docs = {
      {"a", "x", "2015-03-07"}, {"b", "x", std::nullopt}, {"c", "x", "2016-01-01"},
      {"d", "x", "2015-03-07"}, {"e", "x", "2015"},       {"f", "x", std::nullopt},
      {"g", "x", "2015-12"},
  };
  RecencyRetriever retriever;
  const RankResult result = retriever.rank("ignored", docs, 10);
  EXPECT_EQ(indices(result), (std::vector<std::size_t>{2, 6, 0, 3, 4, 1, 5}));
  EXPECT_TRUE(result.k_clipped());
  EXPECT_EQ(indices(retriever.rank("", docs, 2)), (std::vector<std::size_t>{2, 6}));
}

TEST(Recency, InvalidDateNamesDocument) {
  const std::vector<Document> docs = {{"ok", "x", "2015"}, {"broken", "x", "May 2015"}};
  RecencyRetriever retriever;
  try {
    retriever.rank("", docs, 1);
    FAIL() << "expected qrag::Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("broken"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("May 2015"), std::string::npos) << error.what();
  }
}

TEST(Random, SeededPermutationWithoutReplacement) {
  std::vector<Document> docs(50);
  for (std::size_t i = 0; i < docs.size(); ++i) docs[i] = {std::to_string(i), "text", std::nullopt};
  RandomRetriever retriever(7, false);
  const RankResult first = retriever.rank("query one", docs, 50);
  ASSERT_EQ(first.ranking.size(), 50U);
  const auto order = indices(first);
  EXPECT_EQ(std::set<std::size_t>(order.begin(), order.end()).size(), 50U);
  EXPECT_EQ(indices(RandomRetriever(7, false).rank("query one", docs, 50)), order);
  EXPECT_NE(indices(retriever.rank("query two", docs, 50)), order);
  EXPECT_NE(indices(RandomRetriever(8, false).rank("query one", docs, 50)), order);
  // A top-k is the prefix of the full permutation.
  const auto top5 = indices(retriever.rank("query one", docs, 5));
  EXPECT_TRUE(std::equal(top5.begin(), top5.end(), order.begin()));
}

TEST(Random, EmptyProfileAndZeroK) {
  RandomRetriever retriever(1, true);
  EXPECT_TRUE(retriever.rank("q", {}, 5).ranking.empty());
  const std::vector<Document> docs = {{"a", "t", std::nullopt}};
  EXPECT_TRUE(retriever.rank("q", docs, 0).ranking.empty());
}

nlohmann::json load_random_golden() {
  std::ifstream in(qrag::testing::test_data("retrieval/python_random.json"));
  EXPECT_TRUE(in.good());
  return nlohmann::json::parse(in);
}

TEST(PythonRandom, MatchesCpythonRandom) {
  const auto golden = load_random_golden();
  ASSERT_GE(golden.at("cases").size(), 5U);
  for (const auto& c : golden.at("cases")) {
    SCOPED_TRACE(c.at("seed").get<std::string>());
    PythonRandom rng(c.at("seed_words").get<std::vector<std::uint32_t>>());
    for (double expected : c.at("random").get<std::vector<double>>()) EXPECT_EQ(rng.random(), expected);
  }
}

TEST(Random, LampCompatMatchesPythonChoices) {
  const auto golden = load_random_golden();
  // First CPython's random.choices(range(n), k) after random.seed(seed), drawn as
  // floor(random() * n); then the retriever, whose seed is (seed << 64) | xxh3_64(query).
  for (const auto& c : golden.at("cases")) {
    for (const auto& [n_text, expected] : c.at("choices").items()) {
      const std::size_t n = std::stoul(n_text);
      PythonRandom rng(c.at("seed_words").get<std::vector<std::uint32_t>>());
      std::vector<std::size_t> drawn;
      for (std::size_t i = 0; i < std::min<std::size_t>(n, 10); ++i) {
        drawn.push_back(static_cast<std::size_t>(std::floor(rng.random() * static_cast<double>(n))));
      }
      EXPECT_EQ(drawn, expected.get<std::vector<std::size_t>>()) << "n=" << n;
    }
  }
  std::vector<Document> docs(41);
  for (std::size_t i = 0; i < docs.size(); ++i) docs[i] = {std::to_string(i), "t", std::nullopt};
  const std::string query = "what is the rating";
  const std::uint64_t hash = XXH3_64bits(query.data(), query.size());
  PythonRandom rng({static_cast<std::uint32_t>(hash), static_cast<std::uint32_t>(hash >> 32), 7U, 0U});
  std::vector<std::size_t> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(static_cast<std::size_t>(std::floor(rng.random() * 41.0)));
  RandomRetriever retriever(7, true);
  EXPECT_EQ(indices(retriever.rank(query, docs, 10)), expected);
  // Sampling with replacement, k clipped to the profile size.
  const std::vector<Document> two = {{"a", "t", std::nullopt}, {"b", "t", std::nullopt}};
  EXPECT_EQ(retriever.rank(query, two, 9).ranking.size(), 2U);
}

}  // namespace
}  // namespace qrag::retrieval
