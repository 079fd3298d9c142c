// Tokenizer throughput (bytes/s, tokens/s) on LaMP review and abstract texts, one thread.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace {

using qrag::tokenizer::Tokenizer;

std::filesystem::path shared_path(const std::string& relative) {
  return std::filesystem::path(QRAG_SHARED_DIR) / relative;
}

// Profile review texts (LaMP-3) or paper abstracts (LaMP-5); empty when absent.
std::vector<std::string> load_texts(const std::string& corpus) {
  std::vector<std::string> texts;
  const bool reviews = corpus == "reviews";
  std::ifstream in(shared_path(reviews ? "data/lamp3-amazon-mi/dev_questions.json" : "data/lamp5-acl/dev_questions.json"));
  if (!in) return texts;
  for (const auto& item : nlohmann::json::parse(in)) {
    for (const auto& p : item.at("profile")) texts.push_back(p.at(reviews ? "text" : "abstract").get<std::string>());
  }
  return texts;
}

// Loaded once per vocabulary; null when the file is absent.
const Tokenizer* load_tokenizer(const std::string& vocab) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& slot = cache[vocab];
  if (!slot) {
    const auto path = shared_path("models/vocab/ggml-vocab-" + vocab + ".gguf");
    if (!std::filesystem::exists(path)) return nullptr;
    const auto file = qrag::gguf::GgufFile::open(path);
    slot = std::make_unique<Tokenizer>(Tokenizer::from_gguf(file));
  }
  return slot.get();
}

void BM_Encode(benchmark::State& state, const char* vocab, const char* corpus) {
  const Tokenizer* tok = load_tokenizer(vocab);
  static std::map<std::string, std::vector<std::string>> corpora;
  auto& texts = corpora[corpus];
  if (texts.empty()) texts = load_texts(corpus);
  if (tok == nullptr || texts.empty()) {
    state.SkipWithError("needs ../shared/models/vocab and ../shared/data");
    return;
  }
  std::size_t bytes = 0;
  std::size_t tokens = 0;
  for (auto _ : state) {
    for (const std::string& text : texts) {
      const auto ids = tok->encode(text, true, false);
      tokens += ids.size();
      bytes += text.size();
      benchmark::DoNotOptimize(ids.data());
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
  state.counters["texts"] = static_cast<double>(texts.size());
}

// Every iteration encodes with a fresh tokenizer, so the shared word cache starts
// empty: the throughput of a first pass over unseen text.
void BM_EncodeCold(benchmark::State& state, const char* vocab, const char* corpus) {
  const auto path = shared_path(std::string("models/vocab/ggml-vocab-") + vocab + ".gguf");
  const auto texts = load_texts(corpus);
  if (!std::filesystem::exists(path) || texts.empty()) {
    state.SkipWithError("needs ../shared/models/vocab and ../shared/data");
    return;
  }
  const auto file = qrag::gguf::GgufFile::open(path);
  const qrag::tokenizer::Vocab vocab_data = qrag::tokenizer::read_vocab(file);
  std::size_t bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const Tokenizer tok = Tokenizer::from_vocab(vocab_data);
    state.ResumeTiming();
    for (const std::string& text : texts) {
      benchmark::DoNotOptimize(tok.encode(text, true, false).data());
      bytes += text.size();
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void BM_Decode(benchmark::State& state, const char* vocab) {
  const Tokenizer* tok = load_tokenizer(vocab);
  const auto texts = load_texts("abstracts");
  if (tok == nullptr || texts.empty()) {
    state.SkipWithError("needs ../shared/models/vocab and ../shared/data");
    return;
  }
  std::vector<std::vector<std::int32_t>> encoded;
  for (const std::string& text : texts) encoded.push_back(tok->encode(text, false, false));
  std::size_t tokens = 0;
  for (auto _ : state) {
    for (const auto& ids : encoded) {
      benchmark::DoNotOptimize(tok->decode(ids, false));
      tokens += ids.size();
    }
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_Encode, llama_spm_reviews, "llama-spm", "reviews")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama_spm_abstracts, "llama-spm", "abstracts")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, gpt2_reviews, "gpt-2", "reviews")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama3_reviews, "llama3", "reviews")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama3_abstracts, "llama3", "abstracts")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, qwen2_abstracts, "qwen2", "abstracts")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, bert_abstracts, "bert-bge", "abstracts")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeCold, llama_spm_reviews, "llama-spm", "reviews")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeCold, gpt2_reviews, "gpt-2", "reviews")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeCold, llama3_reviews, "llama3", "reviews")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, llama3, "llama3")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
