// The run loop of `qrag run`: what a cell needs from the engine, and the resumable grid loop.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "experiment/config.h"
#include "experiment/grid.h"
#include "experiment/progress.h"
#include "experiment/store.h"
#include "experiment/topk.h"

namespace qrag::experiment {

// One generation request: a fully rendered prompt (chat template already applied).
struct GenerationRequest {
  std::string prompt;
  DecodingSettings decoding;
  std::uint64_t seed = 0;                    // sampling seed (ignored at temperature 0)
  std::size_t top_logprobs = kTopLogprobs;   // entries wanted in first_step
};

// What the engine returns for one request. Rates are tokens per second of wall time.
struct GenerationResult {
  std::string text;                 // generated text without the prompt and stop string
  std::int64_t prompt_tokens = 0;   // tokens actually fed to the model
  std::int64_t reused_prompt_tokens = 0;  // of those, taken from the KV cache of an earlier prompt
  std::int64_t generated_tokens = 0;
  TopKRecord first_step;            // distribution of the first generated token
  double ttft_ms = 0.0;
  double prefill_tokens_per_s = 0.0;
  double decode_tokens_per_s = 0.0;
  std::int64_t peak_memory_bytes = 0;  // process peak resident memory after the call
  std::int64_t kv_cache_bytes = 0;     // bytes of KV cache allocated for this prompt
};

// One loaded model at one precision. The runner calls it from one thread; an
// implementation may use its own thread pool inside generate().
class CellBackend {
 public:
  virtual ~CellBackend() = default;

  // Tokens the prompt takes under this model's tokenizer (with its BOS rules).
  virtual std::size_t count_tokens(std::string_view text) = 0;
  // n_ctx the backend runs with: prompt tokens + max_new_tokens must fit in it.
  virtual std::size_t context_length() const = 0;
  // Generates a completion. Throws qrag::Error on a prompt that does not fit.
  virtual GenerationResult generate(const GenerationRequest& request) = 0;
  // Generates several completions, request i on KV-cache slot slots[i] (distinct, below
  // the provider's batch_size()). A slot keeps its cache between calls, so a request
  // that extends the slot's previous prompt evaluates only the new tokens. Results must
  // equal those of generate() on each request alone. The default calls generate().
  virtual std::vector<GenerationResult> generate_batch(std::span<const GenerationRequest> requests,
                                                       std::span<const int> slots);
};

// Resolves (model, precision) to a backend, loading or quantizing on first use. The
// returned reference stays valid until the provider is destroyed or asked for another
// (model, precision), so a provider may keep only one model in memory at a time.
class BackendProvider {
 public:
  virtual ~BackendProvider() = default;

  // Content hash (hex) of the GGUF file the cell runs on, without loading it for inference.
  virtual std::string model_hash(const std::string& model, const std::string& precision) = 0;
  virtual CellBackend& backend(const std::string& model, const std::string& precision) = 0;
  // Questions the runner may generate together (see CellBackend::generate_batch).
  virtual std::size_t batch_size() const { return 1; }
};

// A question's prompt for one cell, prepared by the retrieval and prompt layers.
struct PreparedPrompt {
  std::string question_id;
  std::string prompt;
  std::vector<std::string> doc_ids;  // profile item ids in prompt order
  bool truncated = false;            // documents were dropped or cut to fit
  std::size_t prompt_tokens = 0;     // tokens of `prompt` under the model's tokenizer, BOS included
  std::string gold;                  // empty when the split has no golds
};

// Everything the loop needs for one cell.
struct CellWork {
  Cell cell;
  std::string parser;                // output parser name, part of the row key
  std::vector<PreparedPrompt> prompts;
};

// Hooks into the lamp and metrics layers, plus run options.
struct RunOptions {
  std::int64_t run_id = 0;           // from ResultStore::begin_run
  DecodingSettings decoding;
  std::string prompt_style = "lamp";
  std::string qrag_version;          // empty = this build's version
  // Raw output -> prediction; empty function = the raw output unchanged.
  std::function<std::string(const Cell&, std::string_view raw_output)> parse;
  // (prediction, gold) -> per-question scores (names in store.h); empty = no scores.
  std::function<std::map<std::string, double>(const Cell&, std::string_view prediction, std::string_view gold)>
      score;
  ProgressReporter* progress = nullptr;  // optional
  // Copy the output of a stored row with the same generation key (model file,
  // precision, prompt, decoding) instead of generating it again.
  bool copy_equal_generations = true;
  // Stop after this many new rows (computed or reused); 0 = no limit.
  std::size_t max_new_rows = 0;
  // Called after each new row is committed, with the number of new rows so far.
  std::function<void(std::size_t new_rows)> after_row;
};

struct RunSummary {
  std::size_t computed = 0;  // rows generated by a backend
  std::int64_t prefill_computed = 0;  // prompt tokens the backends evaluated
  std::int64_t prefill_reused = 0;    // prompt tokens taken from a cached common prefix
  std::size_t reused = 0;    // rows whose output was copied from an equal generation key
  std::size_t skipped = 0;   // rows already in the store
  bool stopped_early = false;  // max_new_rows was reached
};

// Runs every prompt of every cell, skipping rows already stored and writing each new
// row in its own transaction. Rows run grouped by (model, precision), so each model is
// loaded once. Within a group they run question by question, each question's prompts in
// descending text order. A prompt that extends another therefore runs first, and a
// backend that keeps its KV cache evaluates only the suffix of the next. With B > 1,
// B consecutive questions advance together, one cache slot each, and the rows of one
// step that share a seed go to the backend as one batch. Errors from a backend or hook propagate with the
// cell and question named; every row written before stays in the store.
RunSummary run_grid(ResultStore& store, const std::vector<CellWork>& work, BackendProvider& backends,
                    const RunOptions& options);

// Number of rows run_grid would write for `work` given what the store holds.
std::size_t count_missing_rows(const ResultStore& store, const std::vector<CellWork>& work,
                               BackendProvider& backends, const RunOptions& options);

}  // namespace qrag::experiment
