// Compares the next-token distributions of a reference model and a quantized one over a text.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "kernels/kernels.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace qrag::engine {

// Summary statistics over all scored positions.
struct LogitComparison {
  std::int64_t n_positions = 0;
  double mean_kl = 0.0;         // mean KL(reference || quantized) in nats
  double max_kl = 0.0;          // largest KL of one position
  double top1_agreement = 0.0;  // fraction of positions whose argmax token is the same
  double rms_dp = 0.0;          // RMS over positions of p_ref(next) - p_quant(next), next = the text's token
  double ppl_reference = 0.0;   // perplexity of the text under each model
  double ppl_quantized = 0.0;
};

// Accumulates per-position statistics from pairs of logits rows. Not thread-safe.
class LogitStats {
 public:
  // Adds one position: logits rows [n_vocab] of both models and the token that
  // follows in the text (0 <= next_token < n_vocab, checked).
  void add(std::span<const float> reference, std::span<const float> quantized, std::int32_t next_token);
  LogitComparison summary() const;

 private:
  std::int64_t n_ = 0;
  double sum_kl_ = 0.0;
  double max_kl_ = 0.0;
  std::int64_t n_agree_ = 0;
  double sum_dp2_ = 0.0;
  double sum_nll_reference_ = 0.0;
  double sum_nll_quantized_ = 0.0;
};

struct CompareOptions {
  std::int64_t n_ctx = 512;    // tokens per chunk; each chunk starts with an empty cache
  std::int64_t n_batch = 128;  // tokens per forward pass (bounds the logits buffers: n_batch * n_vocab floats each)
};

// Tokenizes `text` with `tokenizer` (BOS as the vocabulary's metadata requests), cuts
// it into chunks of n_ctx tokens and, in each chunk, scores every position except
// the last against the token that follows it. Both models must have the same
// n_vocab. Throws qrag::Error when the vocabularies differ or the text has fewer
// than 2 tokens. Borrows everything; `kernels` is used by one model at a time.
LogitComparison compare_logits(const model::Model& reference, const model::Model& quantized,
                               const tokenizer::Tokenizer& tokenizer, std::string_view text,
                               const CompareOptions& options, kernels::KernelContext& kernels);

}  // namespace qrag::engine
