// Compares the next-token distributions of a reference model and a quantized one over a text.
#include "engine/compare_logits.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/check.h"
#include "core/error.h"
#include "model/decoder.h"
#include "model/kv_cache.h"

namespace qrag::engine {
namespace {

// log(sum(exp(x))) computed in double, stable for large logits.
double log_sum_exp(std::span<const float> x) {
  const float max = *std::max_element(x.begin(), x.end());
  double sum = 0.0;
  for (const float v : x) sum += std::exp(static_cast<double>(v) - max);
  return max + std::log(sum);
}

std::size_t argmax(std::span<const float> x) {
  return static_cast<std::size_t>(std::max_element(x.begin(), x.end()) - x.begin());
}

}  // namespace

void LogitStats::add(std::span<const float> reference, std::span<const float> quantized, std::int32_t next_token) {
  QRAG_CHECK(reference.size() == quantized.size() && !reference.empty(), "logits rows differ in length");
  QRAG_CHECK(next_token >= 0 && static_cast<std::size_t>(next_token) < reference.size(), "next token out of range");
  const double lse_ref = log_sum_exp(reference);
  const double lse_quant = log_sum_exp(quantized);
  double kl = 0.0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double log_p = reference[i] - lse_ref;
    const double log_q = quantized[i] - lse_quant;
    kl += std::exp(log_p) * (log_p - log_q);
  }
  kl = std::max(kl, 0.0);  // rounding can make a zero divergence slightly negative
  const auto next = static_cast<std::size_t>(next_token);
  const double log_p_next = reference[next] - lse_ref;
  const double log_q_next = quantized[next] - lse_quant;
  const double dp = std::exp(log_p_next) - std::exp(log_q_next);

  ++n_;
  sum_kl_ += kl;
  max_kl_ = std::max(max_kl_, kl);
  n_agree_ += argmax(reference) == argmax(quantized) ? 1 : 0;
  sum_dp2_ += dp * dp;
  sum_nll_reference_ -= log_p_next;
  sum_nll_quantized_ -= log_q_next;
}

LogitComparison LogitStats::summary() const {
  LogitComparison out;
  out.n_positions = n_;
  if (n_ == 0) return out;
  const auto n = static_cast<double>(n_);
  out.mean_kl = sum_kl_ / n;
  out.max_kl = max_kl_;
  out.top1_agreement = static_cast<double>(n_agree_) / n;
  out.rms_dp = std::sqrt(sum_dp2_ / n);
  out.ppl_reference = std::exp(sum_nll_reference_ / n);
  out.ppl_quantized = std::exp(sum_nll_quantized_ / n);
  return out;
}

LogitComparison compare_logits(const model::Model& reference, const model::Model& quantized,
                               const tokenizer::Tokenizer& tokenizer, std::string_view text,
                               const CompareOptions& options, kernels::KernelContext& kernels) {
  const std::int64_t n_vocab = reference.hparams().n_vocab;
  if (quantized.hparams().n_vocab != n_vocab) {
    throw Error(fmt::format("vocabulary sizes differ: {} has {}, {} has {}; compare two precisions of one model",
                            reference.file().path().string(), n_vocab, quantized.file().path().string(),
                            quantized.hparams().n_vocab));
  }
  if (options.n_ctx < 2 || options.n_batch < 1) {
    throw Error(fmt::format("invalid --ctx {} (expected >= 2) or batch {}", options.n_ctx, options.n_batch));
  }
  const std::vector<std::int32_t> tokens = tokenizer.encode(text, /*add_special=*/true, /*parse_special=*/false);
  if (tokens.size() < 2) throw Error(fmt::format("the text has {} tokens; need at least 2", tokens.size()));

  model::KvCache ref_cache(reference.hparams(), options.n_ctx, 1);
  model::KvCache quant_cache(quantized.hparams(), options.n_ctx, 1);
  model::Decoder ref_decoder(reference, ref_cache, kernels);
  model::Decoder quant_decoder(quantized, quant_cache, kernels);
  LogitStats stats;
  std::vector<float> ref_logits;  // [n_batch][n_vocab], copied because the next decode reuses the span

  const auto n_tokens = static_cast<std::int64_t>(tokens.size());
  for (std::int64_t chunk = 0; chunk < n_tokens; chunk += options.n_ctx) {
    const std::int64_t chunk_end = std::min(chunk + options.n_ctx, n_tokens);
    ref_cache.clear(0);
    quant_cache.clear(0);
    for (std::int64_t start = chunk; start < chunk_end; start += options.n_batch) {
      const std::int64_t end = std::min(start + options.n_batch, chunk_end);
      const std::span<const std::int32_t> batch(tokens.data() + start, static_cast<std::size_t>(end - start));
      const model::SequenceInput input{0, batch, /*all_logits=*/true};
      const auto ref_rows = ref_decoder.decode(std::span(&input, 1));
      ref_logits.assign(ref_rows.begin(), ref_rows.end());
      const auto quant_rows = quant_decoder.decode(std::span(&input, 1));
      for (std::int64_t t = start; t < end && t + 1 < chunk_end; ++t) {
        const std::size_t row = static_cast<std::size_t>((t - start) * n_vocab);
        stats.add(std::span(ref_logits).subspan(row, static_cast<std::size_t>(n_vocab)),
                  quant_rows.subspan(row, static_cast<std::size_t>(n_vocab)), tokens[static_cast<std::size_t>(t + 1)]);
      }
    }
    spdlog::debug("compare-logits: scored tokens up to {} of {}", chunk_end, n_tokens);
  }
  return stats.summary();
}

}  // namespace qrag::engine
