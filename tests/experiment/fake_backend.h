// A deterministic fake engine and row builders shared by the experiment tests.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "experiment/key.h"
#include "experiment/runner.h"
#include "experiment/store.h"

namespace qrag::experiment::fake {

// Output and timings are pure functions of (precision, prompt), so two runs agree row by row.
class FakeBackend : public CellBackend {
 public:
  explicit FakeBackend(std::string precision) : precision_(std::move(precision)) {}

  std::size_t count_tokens(std::string_view text) override { return text.size() / 4 + 1; }
  std::size_t context_length() const override { return 4096; }

  GenerationResult generate(const GenerationRequest& request) override {
    ++calls;
    const std::size_t hash = std::hash<std::string>{}(request.prompt + "|" + precision_);
    GenerationResult result;
    result.text = std::to_string(1 + hash % 5);
    result.prompt_tokens = static_cast<std::int64_t>(count_tokens(request.prompt));
    result.generated_tokens = 2;
    std::vector<float> logits(16);
    for (std::size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>((hash >> i) % 7) * 0.5f;
    result.first_step = make_topk_record(logits, 8);
    result.ttft_ms = static_cast<double>(result.prompt_tokens) * 0.5;
    result.prefill_tokens_per_s = 100.0;
    result.decode_tokens_per_s = 20.0;
    result.peak_memory_bytes = 1000;
    result.kv_cache_bytes = result.prompt_tokens * 64;
    return result;
  }

  int calls = 0;

 private:
  std::string precision_;
};

class FakeProvider : public BackendProvider {
 public:
  std::string model_hash(const std::string& model, const std::string& precision) override {
    return xxh3_128_hex(model + "/" + precision);
  }
  CellBackend& backend(const std::string& model, const std::string& precision) override {
    auto [it, inserted] = backends_.try_emplace(model + "/" + precision, precision);
    return it->second;
  }
  int total_calls() const {
    int calls = 0;
    for (const auto& [name, backend] : backends_) calls += backend.calls;
    return calls;
  }

 private:
  std::map<std::string, FakeBackend> backends_;
};

// A scored row for analysis and store tests (the key is derived from the fields).
inline ResultRow make_row(const Cell& cell, const std::string& question, const std::string& prediction,
                          const std::string& gold, const std::map<std::string, double>& scores) {
  ResultRow row;
  row.question_id = question;
  row.cell = cell;
  row.key = xxh3_128_hex(cell.id() + "#" + question);
  row.generation_key = xxh3_128_hex("gen#" + cell.id() + "#" + question);
  row.raw_output = prediction;
  row.prediction = prediction;
  row.gold = gold;
  row.scores = scores;
  row.prompt_tokens = 100 + static_cast<std::int64_t>(question.size());
  row.doc_ids = {"p1", "p2"};
  row.generated_tokens = 3;
  row.ttft_ms = 12.5;
  row.prefill_tokens_per_s = 800;
  row.decode_tokens_per_s = 40;
  row.peak_memory_bytes = 1 << 20;
  row.kv_cache_bytes = 4096;
  return row;
}

inline Cell make_cell(const std::string& precision, int k, int task = 3, const std::string& retriever = "bm25") {
  Cell cell;
  cell.dataset = task == 3 ? "lamp3" : "lamp" + std::to_string(task);
  cell.task = task;
  cell.model = "m";
  cell.precision = precision;
  cell.retriever = retriever;
  cell.k = KValue{false, k};
  return cell;
}

}  // namespace qrag::experiment::fake
