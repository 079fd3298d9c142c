// Dense retrieval with a deterministic fake encoder: brute-force parity, prefixes and the SQLite cache.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>

#include "common/test_paths.h"
#include "core/error.h"
#include "retrieval/dense.h"

namespace qrag::retrieval {
namespace {

// Hashed bag of words: each whitespace token adds 1 to dimension hash(token) % dim, and
// `salt` changes the hash so two fake models give different vectors. Records every text.
class FakeEncoder : public Encoder {
 public:
  FakeEncoder(std::size_t dim, std::string id, std::size_t salt = 0) : dim_(dim), id_(std::move(id)), salt_(salt) {}

  EmbeddingMatrix embed(std::span<const std::string> texts) override {
    ++n_calls;
    EmbeddingMatrix out{texts.size(), dim_, std::vector<float>(texts.size() * dim_, 0.0f)};
    for (std::size_t i = 0; i < texts.size(); ++i) {
      seen.push_back(texts[i]);
      std::istringstream words(texts[i]);
      std::string word;
      while (words >> word) out.row(i)[(std::hash<std::string>{}(word) + salt_) % dim_] += 1.0f;
    }
    return out;
  }
  std::string model_id() const override { return id_; }
  std::size_t dim() const override { return dim_; }

  std::vector<std::string> seen;
  std::size_t n_calls = 0;

 private:
  std::size_t dim_;
  std::string id_;
  std::size_t salt_;
};

std::vector<Document> random_docs(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> word(0, 30);
  std::vector<Document> docs;
  for (std::size_t i = 0; i < n; ++i) {
    std::string text;
    for (int j = 0; j < 12; ++j) text += fmt::format("t{} ", word(rng));
    docs.push_back({std::to_string(i), text, std::nullopt});
  }
  return docs;
}

std::vector<std::size_t> brute_force_order(FakeEncoder& encoder, const std::string& query,
                                           const std::vector<Document>& docs, bool cosine) {
  std::vector<std::string> texts;
  for (const auto& d : docs) texts.push_back(d.text);
  const auto doc_vectors = encoder.embed(texts);
  const auto query_vector = encoder.embed(std::vector<std::string>{query});
  std::vector<double> scores;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    double dot = 0, qq = 0, dd = 0;
    for (std::size_t j = 0; j < encoder.dim(); ++j) {
      dot += double(query_vector.row(0)[j]) * doc_vectors.row(i)[j];
      qq += double(query_vector.row(0)[j]) * query_vector.row(0)[j];
      dd += double(doc_vectors.row(i)[j]) * doc_vectors.row(i)[j];
    }
    double score = dot;
    if (cosine) score = qq * dd > 0 ? dot / std::sqrt(qq * dd) : 0.0;
    scores.push_back(score);
  }
  std::vector<std::size_t> order(docs.size());
  std::iota(order.begin(), order.end(), 0U);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return scores[a] > scores[b]; });
  return order;
}

TEST(Dense, RankingEqualsBruteForce) {
  for (bool cosine : {false, true}) {
    auto encoder = std::make_shared<FakeEncoder>(16, "fake-16");
    DenseOptions options;
    options.similarity = cosine ? Similarity::kCosine : Similarity::kDot;
    options.batch_size = 7;
    DenseRetriever retriever(encoder, nullptr, nullptr, options);
    const auto docs = random_docs(60, 11);
    const std::string query = "t1 t2 t2 t3 t29";
    const RankResult result = retriever.rank(query, docs, 60);
    FakeEncoder reference(16, "fake-16");
    const auto expected = brute_force_order(reference, query, docs, cosine);
    ASSERT_EQ(result.ranking.size(), expected.size());
    for (std::size_t r = 0; r < expected.size(); ++r) EXPECT_EQ(result.ranking[r].index, expected[r]) << r;
    // 60 documents in batches of 7, plus the query.
    EXPECT_EQ(encoder->n_calls, 9U + 1U);
  }
}

TEST(Dense, CacheEmbedsEachTextOnce) {
  const auto dir = qrag::testing::make_temp_dir();
  const auto docs = random_docs(40, 5);
  const auto path = dir / "embeddings.sqlite";
  std::vector<Ranked> first_ranking;
  {
    auto encoder = std::make_shared<FakeEncoder>(8, "fake-8");
    auto cache = std::make_shared<EmbeddingCache>(path);
    DenseRetriever retriever(encoder, nullptr, cache, DenseOptions{});
    first_ranking = retriever.rank("t4 t5", docs, 5).ranking;
    EXPECT_EQ(retriever.doc_embedder().n_embedded(), 40U);
    EXPECT_EQ(cache->count("fake-8"), 41U);
  }
  // Reopened cache (a new grid run): nothing is embedded again.
  auto encoder = std::make_shared<FakeEncoder>(8, "fake-8");
  auto cache = std::make_shared<EmbeddingCache>(path);
  DenseRetriever retriever(encoder, nullptr, cache, DenseOptions{});
  const RankResult again = retriever.rank("t4 t5", docs, 5);
  EXPECT_EQ(encoder->n_calls, 0U);
  EXPECT_EQ(retriever.doc_embedder().n_cache_hits(), 40U);
  ASSERT_EQ(again.ranking.size(), first_ranking.size());
  for (std::size_t r = 0; r < again.ranking.size(); ++r) {
    EXPECT_EQ(again.ranking[r].index, first_ranking[r].index);
    EXPECT_EQ(again.ranking[r].score, first_ranking[r].score);
  }
  // A different model id does not reuse the rows.
  auto other = std::make_shared<FakeEncoder>(8, "fake-8-other", 3);
  DenseRetriever other_retriever(other, nullptr, cache, DenseOptions{});
  other_retriever.rank("t4 t5", docs, 5);
  EXPECT_EQ(other_retriever.doc_embedder().n_embedded(), 40U);
}

TEST(Dense, DuplicateTextsEmbeddedOnce) {
  auto encoder = std::make_shared<FakeEncoder>(8, "fake-8");
  auto cache = std::make_shared<EmbeddingCache>(":memory:");
  DenseRetriever retriever(encoder, nullptr, cache, DenseOptions{});
  const std::vector<Document> docs = {{"a", "same text", {}}, {"b", "same text", {}}, {"c", "", {}}};
  const RankResult result = retriever.rank("same", docs, 3);
  EXPECT_EQ(retriever.doc_embedder().n_embedded(), 2U);
  EXPECT_EQ(result.n_empty_documents, 1U);
  EXPECT_EQ(result.ranking[0].score, result.ranking[1].score);
  EXPECT_EQ(result.ranking[0].index, 0U);
  EXPECT_EQ(result.ranking[1].index, 1U);
}

TEST(Dense, PrefixesAndSeparateQueryEncoder) {
  auto doc_encoder = std::make_shared<FakeEncoder>(8, "doc-model");
  auto query_encoder = std::make_shared<FakeEncoder>(8, "query-model", 1);
  DenseOptions options;
  options.query_prefix = "query: ";
  options.doc_prefix = "passage: ";
  DenseRetriever retriever(doc_encoder, query_encoder, nullptr, options);
  const std::vector<Document> docs = {{"a", "alpha", {}}};
  retriever.rank("beta", docs, 1);
  EXPECT_EQ(doc_encoder->seen, (std::vector<std::string>{"passage: alpha"}));
  EXPECT_EQ(query_encoder->seen, (std::vector<std::string>{"query: beta"}));
  EXPECT_THROW(DenseRetriever(doc_encoder, std::make_shared<FakeEncoder>(4, "small"), nullptr, options), Error);
}

// Returns one row too few, as a broken encoder might.
class ShortEncoder : public FakeEncoder {
 public:
  ShortEncoder() : FakeEncoder(4, "short") {}
  EmbeddingMatrix embed(std::span<const std::string> texts) override {
    auto out = FakeEncoder::embed(texts.first(texts.size() - 1));
    return out;
  }
};

TEST(Dense, WrongEncoderShapeIsAnError) {
  DenseRetriever retriever(std::make_shared<ShortEncoder>(), nullptr, nullptr, DenseOptions{});
  const std::vector<Document> docs = {{"a", "x", {}}, {"b", "y", {}}};
  EXPECT_THROW(retriever.rank("q", docs, 1), Error);
}

TEST(Dense, EmptyProfile) {
  auto encoder = std::make_shared<FakeEncoder>(8, "fake-8");
  DenseRetriever retriever(encoder, nullptr, nullptr, DenseOptions{});
  const RankResult result = retriever.rank("q", {}, 3);
  EXPECT_TRUE(result.ranking.empty());
  EXPECT_TRUE(result.empty_profile());
  EXPECT_EQ(encoder->n_calls, 0U);
}

TEST(EmbeddingCache, WrongDimensionIsAMiss) {
  EmbeddingCache cache(":memory:");
  const std::vector<std::string> hashes = {text_hash("x")};
  EmbeddingMatrix rows{1, 2, {1.0f, 2.0f}};
  cache.put("m", hashes, rows);
  EXPECT_TRUE(cache.get("m", hashes, 2)[0].has_value());
  EXPECT_FALSE(cache.get("m", hashes, 3)[0].has_value());
  EXPECT_EQ(*cache.get("m", hashes, 2)[0], (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(text_hash("x").size(), 32U);
  EXPECT_NE(text_hash("x"), text_hash("y"));
}

}  // namespace
}  // namespace qrag::retrieval
