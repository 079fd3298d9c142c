// Text generation on top of the decoder: prompt processing in batches, sampling, stop conditions, streaming.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernels/kernels.h"
#include "model/decoder.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/sampler.h"
#include "tokenizer/tokenizer.h"

namespace qrag::engine {

struct GeneratorOptions {
  std::int64_t n_ctx = 2048;   // KV cache positions per sequence (--ctx)
  std::int64_t n_batch = 512;  // max prompt tokens per forward pass (--batch)
  int n_seq = 1;               // sequences that can be decoded together
};

struct GenerationParams {
  int max_new_tokens = 128;
  model::SamplerParams sampling;
  std::vector<std::string> stop;  // stop strings; the text ends before the first match
  bool stop_at_eog = true;        // stop at EOS/EOT and other end-of-generation tokens
  int top_logprobs = 0;           // > 0: record the top-N log-probabilities of every step
};

enum class StopReason { kEndOfGeneration, kStopString, kMaxTokens, kContextFull, kCallback };
std::string_view stop_reason_name(StopReason reason);  // "eog", "stop", "length", "context", "callback"

struct Timings {
  std::int64_t n_prompt = 0;     // prompt tokens evaluated (excludes reused cache positions)
  std::int64_t n_reused = 0;     // prompt tokens whose K/V came from the cache
  double prompt_seconds = 0.0;
  std::int64_t n_generated = 0;  // decode steps run
  double generate_seconds = 0.0;
};

struct GenerationResult {
  std::vector<std::int32_t> tokens;  // generated ids, without the end-of-generation token
  std::string text;                  // decoded text, cut before a matched stop string
  StopReason stop_reason = StopReason::kMaxTokens;
  // [step][top_logprobs] (token, log-probability) pairs, most likely first.
  std::vector<std::vector<std::pair<std::int32_t, float>>> logprobs;
  Timings timings;
};

// Streaming callback: receives each new piece of text (complete UTF-8, never part of
// a stop string); returning false stops generation with StopReason::kCallback.
using TextCallback = std::function<bool(std::string_view text)>;
// Per-step logits: step index, the sampled token and the full row [n_vocab].
using LogitsCallback = std::function<void(int step, std::int32_t token, std::span<const float> logits)>;

// Owns a KV cache of n_seq sequences and a decoder over a borrowed model,
// tokenizer and kernel context (all must outlive it). Remembers which tokens each
// sequence's cache holds, so a prompt that shares a prefix with the previous one
// on the same sequence only evaluates the new suffix. Not thread-safe.
class Generator {
 public:
  Generator(const model::Model& model, const tokenizer::Tokenizer& tokenizer, kernels::KernelContext& kernels,
            const GeneratorOptions& options);

  // Generates a continuation of `prompt` (token ids, BOS included if wanted) on
  // sequence `seq`. Throws qrag::Error when the prompt is longer than n_ctx (the
  // message gives both lengths) or empty.
  GenerationResult generate(std::span<const std::int32_t> prompt, const GenerationParams& params,
                            const TextCallback& on_text = {}, const LogitsCallback& on_logits = {}, int seq = 0);

  // Generates for several prompts at once, one sequence each (at most n_seq):
  // every decode step runs all unfinished sequences in one forward pass. Each
  // sequence samples with its own Sampler built from `params`, so results equal
  // those of generate() on each prompt alone.
  //
  // `seqs` (empty = 0, 1, ...) names the sequence of each prompt, so a caller can keep
  // each sequence's cached prefix across calls. `on_prompt_logits`, when set, receives
  // each prompt's index and the logits of its last token (the first generated token's
  // distribution) once that prompt is evaluated.
  std::vector<GenerationResult> generate_batch(
      std::span<const std::vector<std::int32_t>> prompts, const GenerationParams& params,
      std::span<const int> seqs = {},
      const std::function<void(std::size_t index, std::span<const float> logits)>& on_prompt_logits = {});

  // Evaluates `prompt` on `seq`, reusing the longest cached common prefix, and
  // returns the logits of its last token [n_vocab] (valid until the next decode).
  std::span<const float> prefill(int seq, std::span<const std::int32_t> prompt, Timings& timings);

  // Forgets what sequence `seq` holds, so the next prompt on it is evaluated from its
  // first token (benchmarks of prefix reuse compare against this).
  void reset_sequence(int seq);

  const model::Model& model() const { return *model_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  model::KvCache& cache() { return cache_; }
  model::Decoder& decoder() { return decoder_; }
  const GeneratorOptions& options() const { return options_; }

 private:
  const model::Model* model_;
  const tokenizer::Tokenizer* tokenizer_;
  GeneratorOptions options_;
  model::KvCache cache_;
  model::Decoder decoder_;
  std::vector<std::vector<std::int32_t>> cached_;  // [n_seq] tokens whose K/V are in each sequence's cache
};

}  // namespace qrag::engine
