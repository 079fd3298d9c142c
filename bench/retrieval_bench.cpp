// Retrieval benchmarks: BM25 over every LaMP-3 profile, and per-query cost on synthetic corpora.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "retrieval/bm25.h"
#include "retrieval/inverted_index.h"

namespace {

using qrag::retrieval::Document;

struct Question {
  std::string query;
  std::vector<Document> docs;
};

// LaMP-3 questions with LaMP's rules: query = input after "review:", documents = profile text.
// Empty when the shared data folder is absent.
std::vector<Question> load_lamp3() {
  const std::filesystem::path path = std::filesystem::path(QRAG_SHARED_DIR) / "data/lamp3-amazon-mi/dev_questions.json";
  std::vector<Question> questions;
  std::ifstream in(path);
  if (!in) return questions;
  for (const auto& item : nlohmann::json::parse(in)) {
    Question question;
    const std::string input = item.at("input");
    const std::size_t at = input.find("review:");
    question.query = at == std::string::npos ? input : input.substr(at + 7);
    for (const auto& p : item.at("profile")) question.docs.push_back({p.at("id"), p.at("text"), p.value("date", "")});
    questions.push_back(std::move(question));
  }
  return questions;
}

// Synthetic documents of 20-80 words drawn from a Zipf-like vocabulary of 50,000 words.
std::vector<Document> synthetic_corpus(std::size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> length(20, 80);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<Document> docs(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::string text;
    for (int j = length(rng); j > 0; --j) {
      text += fmt::format("w{} ", static_cast<int>(std::pow(unit(rng), 2.5) * 50000.0));
    }
    docs[i] = {fmt::format("doc{}", i), std::move(text), std::nullopt};
  }
  return docs;
}

std::string synthetic_query(std::mt19937& rng) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::string query;
  for (int j = 0; j < 8; ++j) query += fmt::format("w{} ", static_cast<int>(std::pow(unit(rng), 2.5) * 50000.0));
  return query;
}

// One iteration ranks all 711 LaMP-3 profiles (index built per question, as in a grid).
void BM_Lamp3AllProfiles(benchmark::State& state, const char* spec) {
  static const std::vector<Question> questions = load_lamp3();
  if (questions.empty()) {
    state.SkipWithError("needs ../shared/data/lamp3-amazon-mi/dev_questions.json");
    return;
  }
  auto retriever = qrag::retrieval::make_retriever(spec);
  std::size_t n_docs = 0;
  for (auto _ : state) {
    for (const Question& question : questions) {
      benchmark::DoNotOptimize(retriever->rank(question.query, question.docs, 5));
      n_docs += question.docs.size();
    }
  }
  state.counters["questions"] = static_cast<double>(questions.size());
  state.counters["docs/s"] = benchmark::Counter(static_cast<double>(n_docs), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_Lamp3AllProfiles, okapi, "bm25:okapi")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Lamp3AllProfiles, bm25plus, "bm25:bm25plus")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Lamp3AllProfiles, english, "bm25:okapi?analyzer=english")->Unit(benchmark::kMillisecond);

// A prebuilt index over N synthetic documents (shared corpus): cost of one query, top 10.
void BM_SyntheticQuery(benchmark::State& state) {
  std::mt19937 rng(42);
  const auto docs = synthetic_corpus(static_cast<std::size_t>(state.range(0)), rng);
  qrag::retrieval::Analyzer analyzer(qrag::retrieval::AnalyzerKind::kWhitespace);
  std::vector<std::vector<std::string>> terms(docs.size());
  for (std::size_t i = 0; i < docs.size(); ++i) analyzer.analyze(docs[i].text, terms[i]);
  const auto index = qrag::retrieval::InvertedIndex::build(terms);
  const auto params = qrag::retrieval::Bm25Params::defaults_for(qrag::retrieval::Bm25Variant::kOkapi);
  std::vector<std::vector<std::string>> queries;
  for (int q = 0; q < 64; ++q) queries.push_back(analyzer.analyze(synthetic_query(rng)));
  std::size_t q = 0;
  for (auto _ : state) {
    const auto scores = index.score(queries[q++ % queries.size()], params);
    benchmark::DoNotOptimize(qrag::retrieval::top_k(scores, 10));
  }
  state.counters["terms"] = static_cast<double>(index.n_terms());
}
BENCHMARK(BM_SyntheticQuery)->Arg(1000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// A per-question profile of N items: analyze, build the index and rank, as rank() does.
void BM_ProfileRank(benchmark::State& state) {
  std::mt19937 rng(7);
  const auto docs = synthetic_corpus(static_cast<std::size_t>(state.range(0)), rng);
  const std::string query = synthetic_query(rng);
  auto retriever = qrag::retrieval::make_retriever("bm25:okapi");
  for (auto _ : state) benchmark::DoNotOptimize(retriever->rank(query, docs, 10));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ProfileRank)->Arg(1)->Arg(100)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
