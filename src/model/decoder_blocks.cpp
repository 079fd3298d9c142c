// Transformer blocks of the decoder families (llama, qwen2, gemma3): attention and gated feed-forward.
//
// One block layout covers all three; ArchSpec switches the differences on:
//   llama:  x += wo·attn(rope(wq·n), rope(wk·n), wv·n)            n = rms_norm(x)·attn_norm
//           x += down·(silu(gate·m) * up·m)                        m = rms_norm(x)·ffn_norm
//   qwen2:  llama with Q/K/V biases and NeoX RoPE.
//   gemma3: Q and K heads RMS-normed (attn_q_norm, attn_k_norm) before NeoX RoPE.
//           Each block output is RMS-normed (post_attention_norm, post_ffw_norm)
//           before the residual add. GELU (tanh) replaces SiLU. Local layers attend
//           to the last n_swa positions only and have their own RoPE base.
// Gemma's RMSNorm is x·(1 + w) in the original checkpoints, but Gemma 3 GGUF files
// store the norm weights with the 1 already added, so every norm here multiplies by
// the stored vector directly. Checked on the Gemma 3 270M Q4_K_M file: its attn_norm values lie
// in [7.4, 62.5], and the numpy reference ranks " Paris" third after "The capital of
// France is" with this rule but predicts unrelated tokens ("là", "!") with 1 + w.
#include <cmath>

#include "core/check.h"
#include "model/decoder.h"

namespace qrag::model {
namespace {

// x[r] += bias for each of n_rows rows of n values.
void add_bias(const kernels::KernelContext& kc, float* x, const float* bias, std::int64_t n,
              std::int64_t n_rows) {
  for (std::int64_t r = 0; r < n_rows; ++r) kernels::add(kc, x + r * n, bias, x + r * n, n);
}

}  // namespace

// q_, k_, v_ of every batch row from norm(x): projections, biases, per-head norms and RoPE.
void Decoder::project_qkv(std::int64_t il, std::int64_t n_tokens) {
  const Hparams& hp = model_->hparams();
  const LayerWeights& l = model_->weights().layers[static_cast<std::size_t>(il)];
  kernels::KernelContext& kc = *kernels_;

  kernels::rms_norm(kc, x_.data(), l.attn_norm, cur_.data(), hp.n_embd, n_tokens, hp.norm_eps);
  const kernels::MatmulJob qkv[] = {{&l.wq, q_.data()}, {&l.wk, k_.data()}, {&l.wv, v_.data()}};
  matmul_shared(qkv, cur_.data(), n_tokens);
  if (l.bq != nullptr) {
    add_bias(kc, q_.data(), l.bq, hp.n_embd_q(), n_tokens);
    add_bias(kc, k_.data(), l.bk, hp.n_embd_kv(), n_tokens);
    add_bias(kc, v_.data(), l.bv, hp.n_embd_kv(), n_tokens);
  }
  if (l.attn_q_norm != nullptr) {  // one RMSNorm per head: rows of head_dim values
    kernels::rms_norm(kc, q_.data(), l.attn_q_norm, q_.data(), hp.head_dim, n_tokens * hp.n_head,
                      hp.norm_eps);
    kernels::rms_norm(kc, k_.data(), l.attn_k_norm, k_.data(), hp.head_dim, n_tokens * hp.n_head_kv,
                      hp.norm_eps);
  }

  const bool local = hp.is_swa(il);
  kernels::RopeParams rope;
  rope.mode = hp.rope_mode;
  rope.n_dims = static_cast<int>(hp.n_rot);
  rope.freq_base = local ? hp.rope_freq_base_swa : hp.rope_freq_base;
  rope.freq_scale = local ? hp.rope_freq_scale_swa : hp.rope_freq_scale;
  rope.freq_factors = model_->weights().rope_freqs;
  kernels::rope(kc, rope, q_.data(), n_tokens, static_cast<int>(hp.n_head), static_cast<int>(hp.head_dim),
                pos_.data());
  kernels::rope(kc, rope, k_.data(), n_tokens, static_cast<int>(hp.n_head_kv), static_cast<int>(hp.head_dim),
                pos_.data());
}

// x += post_norm(wo * attention(q, cache <- (k, v))), post_norm only where the architecture has one.
void Decoder::attention_block(std::int64_t il, std::int64_t n_tokens) {
  const Hparams& hp = model_->hparams();
  const LayerWeights& l = model_->weights().layers[static_cast<std::size_t>(il)];
  kernels::KernelContext& kc = *kernels_;

  project_qkv(il, n_tokens);
  // ggml computes Q.K with Q rounded to F16 when the cache is F16; do the same.
  // NOTE: ggml also rounds the softmax weights to F16 before P.V, which happens
  // inside kernels::attention and is not reproduced (error about 1e-3 in logits).
  kernels::round_to_f16(kc, q_.data(), q_.data(), n_tokens * hp.n_embd_q());

  kernels::AttentionParams params;
  params.n_head = static_cast<int>(hp.n_head);
  params.scale = hp.attn_scale;
  params.causal = true;
  params.sliding_window = hp.is_swa(il) ? static_cast<int>(hp.n_swa) : 0;
  for (const Segment& segment : segments_) {
    const kernels::KvCacheView view = cache_->view(segment.seq, il);
    const std::int32_t* pos = pos_.data() + segment.row0;
    kernels::store_kv(kc, view, row(k_, segment.row0, hp.n_embd_kv()), row(v_, segment.row0, hp.n_embd_kv()),
                      segment.n, pos);
    const std::int64_t n_kv = pos[segment.n - 1] + 1;
    kernels::attention(kc, params, view, row(q_, segment.row0, hp.n_embd_q()), segment.n, pos, n_kv, nullptr,
                       row(attn_, segment.row0, hp.n_embd_q()));
  }

  matmul(l.wo, attn_.data(), cur_.data(), n_tokens);
  if (l.post_attention_norm != nullptr) {
    kernels::rms_norm(kc, cur_.data(), l.post_attention_norm, cur_.data(), hp.n_embd, n_tokens, hp.norm_eps);
  }
  kernels::add(kc, x_.data(), cur_.data(), x_.data(), n_tokens * hp.n_embd);
}

// x += post_norm(w_down * (act(w_gate * norm(x)) * (w_up * norm(x)))), act = SiLU or GELU (tanh).
void Decoder::ffn_block(std::int64_t il, std::int64_t n_tokens) {
  const Hparams& hp = model_->hparams();
  const LayerWeights& l = model_->weights().layers[static_cast<std::size_t>(il)];
  kernels::KernelContext& kc = *kernels_;
  const bool gelu = model_->arch().ffn_activation == FfnActivation::kGeluTanh;

  kernels::rms_norm(kc, x_.data(), l.ffn_norm, cur_.data(), hp.n_embd, n_tokens, hp.norm_eps);
  const kernels::MatmulJob gate_up[] = {{&l.ffn_gate, gate_.data()}, {&l.ffn_up, up_.data()}};
  matmul_shared(gate_up, cur_.data(), n_tokens);
  // One call per row, because the SIMD activations compute the tail of their range
  // with a scalar exp whose bits differ from the vector one. Per-row calls put every
  // row through the same split, so batched and single decoding stay bit-identical.
  // NOTE: kernels request: element-wise ops whose result does not depend on the
  // element's offset in the range, then this can be one call.
  const auto activate_rows = [&](std::size_t begin, std::size_t end, int) {
    for (auto t = static_cast<std::int64_t>(begin); t < static_cast<std::int64_t>(end); ++t) {
      float* gate_row = row(gate_, t, hp.n_ff);
      if (gelu) {
        kernels::gelu(kc, gate_row, gate_row, hp.n_ff);
        kernels::mul(kc, gate_row, row(up_, t, hp.n_ff), gate_row, hp.n_ff);
      } else {
        kernels::swiglu(kc, gate_row, row(up_, t, hp.n_ff), gate_row, hp.n_ff);
      }
    }
  };
  // Prompt batches of at least 32K values split their rows over the threads, and a
  // decoded token's row stays on the calling thread.
  if (n_tokens * hp.n_ff >= 32 * 1024) {
    kc.pool().parallel_for(static_cast<std::size_t>(n_tokens), activate_rows);
  } else {
    activate_rows(0, static_cast<std::size_t>(n_tokens), 0);
  }
  matmul(l.ffn_down, gate_.data(), cur_.data(), n_tokens);
  if (l.post_ffw_norm != nullptr) {
    kernels::rms_norm(kc, cur_.data(), l.post_ffw_norm, cur_.data(), hp.n_embd, n_tokens, hp.norm_eps);
  }
  kernels::add(kc, x_.data(), cur_.data(), x_.data(), n_tokens * hp.n_embd);
}

}  // namespace qrag::model
