// Dense retrieval on the real all-MiniLM-L6-v2 (converted here): model ids, unit norms, brute-force parity, cache.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/test_paths.h"
#include "core/thread_pool.h"
#include "engine/converter.h"
#include "retrieval/dense.h"
#include "retrieval/embedder_encoder.h"
#include "retrieval/embedding_cache.h"
#include "retrieval/encoder_registry.h"

namespace qrag::retrieval {
namespace {

namespace fs = std::filesystem;

// One question of tests/data/retrieval/dense_profiles.json: the LaMP-3 query (the text
// after "review: ") and the profile reviews.
struct Case {
  std::string id;
  std::string query;
  std::vector<Document> docs;
};

std::vector<Case> load_cases() {
  std::ifstream in(qrag::testing::test_data("retrieval/dense_profiles.json"));
  const nlohmann::json questions = nlohmann::json::parse(in);
  std::vector<Case> cases;
  for (const auto& question : questions) {
    Case c;
    c.id = question.at("id").get<std::string>();
    const std::string input = question.at("input").get<std::string>();
    c.query = input.substr(input.find("review: ") + 8);
    for (const auto& item : question.at("profile")) {
      c.docs.push_back({item.at("id").get<std::string>(), item.at("text").get<std::string>(), std::nullopt});
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

std::vector<std::string> texts_of(const std::vector<Document>& docs) {
  std::vector<std::string> texts;
  for (const Document& doc : docs) texts.push_back(doc.text);
  return texts;
}

EncoderRegistryOptions two_threads() {
  EncoderRegistryOptions options;
  options.threads = 2;
  return options;
}

class MiniLmEncoder : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path hf_dir = qrag::testing::source_dir() / "models" / "all-MiniLM-L6-v2";
    if (!fs::exists(hf_dir / "model.safetensors")) return;
    dir_ = new fs::path(qrag::testing::make_temp_dir());
    f32_ = new fs::path(*dir_ / "minilm-f32.gguf");
    engine::convert_hf_to_gguf(hf_dir, *f32_, {});
  }
  static void TearDownTestSuite() {
    if (dir_ != nullptr) fs::remove_all(*dir_);
    delete dir_;
    delete f32_;
    dir_ = nullptr;
    f32_ = nullptr;
  }
  void SetUp() override {
    if (f32_ == nullptr) GTEST_SKIP() << "needs models/all-MiniLM-L6-v2 (scripts/setup.sh installs it)";
  }

  static fs::path* dir_;
  static fs::path* f32_;
};

fs::path* MiniLmEncoder::dir_ = nullptr;
fs::path* MiniLmEncoder::f32_ = nullptr;

TEST_F(MiniLmEncoder, ModelIdIdentifiesBytes) {
  core::ThreadPool pool(2);
  const EmbedderEncoder first(*f32_, pool);
  const EmbedderEncoder second(*f32_, pool);
  EXPECT_EQ(first.model_id(), second.model_id());
  // MiniLM's sentence-transformers config sets mean pooling (llama.cpp pooling id 1).
  // "bert-" + 32 lowercase hex digits + "-pool1".
  const std::string id = first.model_id();
  ASSERT_EQ(id.size(), 5u + 32u + 6u) << id;
  EXPECT_TRUE(id.starts_with("bert-")) << id;
  EXPECT_TRUE(id.ends_with("-pool1")) << id;
  EXPECT_EQ(id.substr(5, 32).find_first_not_of("0123456789abcdef"), std::string::npos) << id;

  // The id hashes the file's bytes, so a copy under another name keeps it.
  const fs::path copy = *dir_ / "copy.gguf";
  fs::copy_file(*f32_, copy, fs::copy_options::overwrite_existing);
  EXPECT_EQ(EmbedderEncoder(copy, pool).model_id(), first.model_id());

  engine::EmbedderOptions raw;
  raw.normalize = false;
  EXPECT_EQ(EmbedderEncoder(*f32_, pool, raw).model_id(), first.model_id() + "-raw");

  engine::ConvertOptions f16;
  f16.type = gguf::GgmlType::F16;
  const fs::path f16_path = *dir_ / "minilm-f16.gguf";
  engine::convert_hf_to_gguf(qrag::testing::source_dir() / "models" / "all-MiniLM-L6-v2", f16_path, f16);
  EXPECT_NE(EmbedderEncoder(f16_path, pool).model_id(), first.model_id());
}

TEST_F(MiniLmEncoder, EmbeddingsHaveUnitNorm) {
  core::ThreadPool pool(2);
  EmbedderEncoder encoder(*f32_, pool);
  ASSERT_EQ(encoder.dim(), 384u);
  std::vector<std::string> texts;
  for (const Case& c : load_cases()) {
    texts.push_back(c.query);
    for (const Document& doc : c.docs) texts.push_back(doc.text);
  }
  texts.push_back("");  // [CLS] [SEP] only
  const EmbeddingMatrix m = encoder.embed(texts);
  ASSERT_EQ(m.rows, texts.size());
  ASSERT_EQ(m.dim, 384u);
  ASSERT_EQ(m.values.size(), texts.size() * 384);
  // The embedder sums squares in double and scales each float by a float 1/norm: two
  // roundings of at most u = 2^-24 each, plus the double sum's error (dim * DBL_EPSILON).
  const double tolerance = 2.0 * (FLT_EPSILON / 2.0) + 384 * DBL_EPSILON;
  for (std::size_t r = 0; r < m.rows; ++r) {
    double sum = 0.0;
    for (float v : m.row(r)) sum += static_cast<double>(v) * v;
    EXPECT_NEAR(std::sqrt(sum), 1.0, tolerance) << "text " << r << ": '" << texts[r] << "'";
  }
}

TEST_F(MiniLmEncoder, DenseRankingMatchesBruteForce) {
  core::ThreadPool pool(2);
  auto encoder = std::make_shared<EmbedderEncoder>(*f32_, pool);
  DenseOptions options;
  options.model_name = "minilm";
  DenseRetriever retriever(encoder, nullptr, nullptr, options);
  const std::vector<std::string> expected_top = {"d1-3", "d2-2", "d3-3"};
  const std::vector<Case> cases = load_cases();
  ASSERT_EQ(cases.size(), expected_top.size());

  for (std::size_t q = 0; q < cases.size(); ++q) {
    const Case& c = cases[q];
    const RankResult result = retriever.rank(c.query, c.docs, c.docs.size());
    ASSERT_EQ(result.ranking.size(), c.docs.size()) << c.id;

    // Brute force: the same encoder calls as the retriever (all documents in one batch,
    // then the query), dot products in double, stable sort by descending score.
    const EmbeddingMatrix docs = encoder->embed(texts_of(c.docs));
    const EmbeddingMatrix query = encoder->embed(std::vector<std::string>{c.query});
    std::vector<double> scores(c.docs.size());
    for (std::size_t i = 0; i < c.docs.size(); ++i) {
      for (std::size_t j = 0; j < 384; ++j) scores[i] += static_cast<double>(query.row(0)[j]) * docs.row(i)[j];
    }
    std::vector<std::size_t> order(c.docs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });

    for (std::size_t rank = 0; rank < order.size(); ++rank) {
      EXPECT_EQ(result.ranking[rank].index, order[rank]) << c.id << " rank " << rank;
      EXPECT_EQ(result.ranking[rank].score, scores[order[rank]]) << c.id << " rank " << rank;
    }
    EXPECT_EQ(c.docs[result.ranking[0].index].id, expected_top[q]) << c.id;
  }
}

TEST_F(MiniLmEncoder, SecondRunReadsCache) {
  core::ThreadPool pool(2);
  auto encoder = std::make_shared<EmbedderEncoder>(*f32_, pool);
  DenseOptions options;
  options.model_name = "minilm";
  const fs::path cache_path = *dir_ / "cache.sqlite";
  fs::remove(cache_path);
  const std::vector<Case> cases = load_cases();
  std::size_t n_texts = 0;
  for (const Case& c : cases) n_texts += c.docs.size() + 1;

  std::vector<RankResult> first;
  {
    DenseRetriever retriever(encoder, nullptr, std::make_shared<EmbeddingCache>(cache_path), options);
    for (const Case& c : cases) first.push_back(retriever.rank(c.query, c.docs, 3));
    EXPECT_EQ(retriever.doc_embedder().n_embedded() + retriever.query_embedder().n_embedded(), n_texts);
    EXPECT_EQ(retriever.doc_embedder().n_cache_hits() + retriever.query_embedder().n_cache_hits(), 0u);
  }
  // A new cache object on the same file, as a second process would open it.
  auto reopened = std::make_shared<EmbeddingCache>(cache_path);
  EXPECT_EQ(reopened->count(encoder->model_id()), n_texts);
  DenseRetriever retriever(encoder, nullptr, reopened, options);
  for (std::size_t q = 0; q < cases.size(); ++q) {
    const RankResult second = retriever.rank(cases[q].query, cases[q].docs, 3);
    ASSERT_EQ(second.ranking.size(), first[q].ranking.size());
    for (std::size_t r = 0; r < second.ranking.size(); ++r) {
      EXPECT_EQ(second.ranking[r].index, first[q].ranking[r].index) << cases[q].id << " rank " << r;
      // float32 rows are stored as raw bytes, so the scores repeat exactly.
      EXPECT_EQ(second.ranking[r].score, first[q].ranking[r].score) << cases[q].id << " rank " << r;
    }
  }
  EXPECT_EQ(retriever.doc_embedder().n_embedded() + retriever.query_embedder().n_embedded(), 0u);
  EXPECT_EQ(retriever.doc_embedder().n_cache_hits() + retriever.query_embedder().n_cache_hits(), n_texts);
}

TEST_F(MiniLmEncoder, RegistrySharesLoadedFile) {
  EncoderRegistry registry({{"minilm", *f32_}}, two_threads());
  EXPECT_EQ(registry.resolve("minilm"), *f32_);
  EXPECT_EQ(registry.resolve(f32_->string()), *f32_);
  const std::shared_ptr<Encoder> by_name = registry.load("minilm");
  const std::shared_ptr<Encoder> by_path = registry.load(f32_->string());
  EXPECT_EQ(by_name.get(), by_path.get());
  EXPECT_EQ(registry.n_loaded(), 1u);
  EXPECT_EQ(by_name->dim(), 384u);

  const auto retriever = make_retriever("dense:minilm?similarity=cosine", registry.context());
  EXPECT_EQ(retriever->spec(), "dense:minilm?similarity=cosine");
  const Case c = load_cases().front();
  const RankResult result = retriever->rank(c.query, c.docs, 1);
  ASSERT_EQ(result.ranking.size(), 1u);
  EXPECT_EQ(c.docs[result.ranking[0].index].id, "d1-3");
  EXPECT_EQ(registry.n_embedded(), c.docs.size() + 1);
}

TEST_F(MiniLmEncoder, RegistryRetrieversRankInParallel) {
  EncoderRegistry registry({{"minilm", *f32_}}, two_threads());
  const std::vector<Case> cases = load_cases();
  std::vector<RankResult> sequential;
  {
    const auto retriever = make_retriever("dense:minilm", registry.context());
    for (const Case& c : cases) sequential.push_back(retriever->rank(c.query, c.docs, 3));
  }
  // Two retrievers share one encoder and one pool, and the registry's mutex serialises them.
  std::vector<std::vector<RankResult>> parallel(2);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < parallel.size(); ++t) {
    threads.emplace_back([&, t] {
      const auto retriever = make_retriever("dense:minilm", registry.context());
      for (int repeat = 0; repeat < 3; ++repeat) {
        for (const Case& c : cases) parallel[t].push_back(retriever->rank(c.query, c.docs, 3));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const auto& results : parallel) {
    ASSERT_EQ(results.size(), 3 * cases.size());
    for (std::size_t i = 0; i < results.size(); ++i) {
      const RankResult& expected = sequential[i % cases.size()];
      ASSERT_EQ(results[i].ranking.size(), expected.ranking.size());
      for (std::size_t r = 0; r < expected.ranking.size(); ++r) {
        EXPECT_EQ(results[i].ranking[r].index, expected.ranking[r].index);
        EXPECT_EQ(results[i].ranking[r].score, expected.ranking[r].score);
      }
    }
  }
}

}  // namespace
}  // namespace qrag::retrieval
