// Model hyper-parameters read from GGUF metadata (`<arch>.*` keys).
#pragma once

#include <cstdint>
#include <string>

#include "gguf/gguf_file.h"
#include "kernels/kernels.h"
#include "model/arch.h"

namespace qrag::model {

// Shape and numeric constants of a decoder model, validated at load.
struct Hparams {
  std::string arch;            // general.architecture, e.g. "llama"
  std::int64_t n_vocab = 0;    // rows of token_embd.weight
  std::int64_t n_embd = 0;     // <arch>.embedding_length
  std::int64_t n_layer = 0;    // <arch>.block_count
  std::int64_t n_head = 0;     // <arch>.attention.head_count
  std::int64_t n_head_kv = 0;  // <arch>.attention.head_count_kv (defaults to n_head)
  std::int64_t n_ff = 0;       // <arch>.feed_forward_length
  std::int64_t head_dim = 0;   // <arch>.attention.key_length, else n_embd / n_head
  std::int64_t n_rot = 0;      // <arch>.rope.dimension_count, else head_dim
  std::int64_t n_ctx_train = 0;  // <arch>.context_length (0 when absent)
  float norm_eps = 1e-5f;        // <arch>.attention.layer_norm_rms_epsilon
  float rope_freq_base = 10000.0f;  // <arch>.rope.freq_base
  float rope_freq_scale = 1.0f;     // 1 / <arch>.rope.scaling.factor for linear scaling
  kernels::RopeMode rope_mode = kernels::RopeMode::kNormal;
  float attn_scale = 0.0f;       // factor of Q.K before the softmax, 1/sqrt(head_dim) except for Gemma 3 27B
  float embd_scale = 1.0f;       // factor of the token embeddings (sqrt(n_embd) for gemma3)
  float final_logit_softcap = 0.0f;  // <arch>.final_logit_softcapping c: logits = c*tanh(logits/c); 0 = off

  // Sliding-window attention. With n_swa = 0 every layer is global.
  std::int64_t n_swa = 0;        // <arch>.attention.sliding_window: positions a local layer attends to
  std::int64_t swa_period = 0;   // layer il is global when il % swa_period == swa_period - 1
  float rope_freq_base_swa = 10000.0f;  // RoPE base of local layers
  float rope_freq_scale_swa = 1.0f;     // local layers are not scaled

  std::int64_t n_embd_q() const { return n_head * head_dim; }     // width of Q and attention output
  std::int64_t n_embd_kv() const { return n_head_kv * head_dim; }  // width of K and V rows
  // True for a local (sliding-window) layer.
  bool is_swa(std::int64_t il) const { return n_swa > 0 && il % swa_period != swa_period - 1; }
};

// Reads the hyper-parameters of architecture `spec` from `file`. n_vocab comes
// from `<arch>.vocab_size`, else the length of tokenizer.ggml.tokens, else the
// second dimension of token_embd.weight. Throws qrag::Error naming the key for a
// missing, inconsistent or unsupported value (for example n_head not divisible
// by n_head_kv, or attention logit softcapping).
Hparams read_hparams(const gguf::GgufFile& file, const ArchSpec& spec);

}  // namespace qrag::model
