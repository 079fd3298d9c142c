// Architecture descriptions: what differs between decoder families that share building blocks.
#pragma once

#include <span>
#include <string_view>

#include "kernels/kernels.h"

namespace qrag::model {

// Activation of the gated feed-forward block: act(ffn_gate * x) * (ffn_up * x).
enum class FfnActivation {
  kSilu,      // SwiGLU (llama, qwen2)
  kGeluTanh,  // GeGLU with the tanh approximation of GELU (gemma3)
};

// One supported architecture. The decoder assembles its forward pass from
// shared blocks according to these fields, so a new family adds fields and a
// row here rather than a new monolithic forward function.
struct ArchSpec {
  std::string_view name;  // general.architecture value, also the metadata key prefix
  kernels::RopeMode rope_mode = kernels::RopeMode::kNormal;  // pairing of rotated dimensions
  bool causal = true;                                        // decoder (causal mask, KV cache)
  bool qkv_bias = false;    // attn_q.bias, attn_k.bias, attn_v.bias added after the projections (qwen2)
  bool qk_norm = false;     // attn_q_norm/attn_k_norm: RMSNorm of each Q and K head before RoPE (gemma3)
  bool post_norms = false;  // post_attention_norm and post_ffw_norm on each block's output (gemma3)
  bool scale_embeddings = false;  // token embeddings multiplied by sqrt(n_embd) (gemma3)
  bool sliding_window = false;    // local layers attend to the last <arch>.attention.sliding_window positions
  FfnActivation ffn_activation = FfnActivation::kSilu;
  // Chat template family ("gemma", "chatml") to use when a file has no
  // tokenizer.chat_template; empty when the architecture implies none.
  std::string_view default_chat_template;
};

// The architectures this build can run: llama, qwen2, gemma3.
std::span<const ArchSpec> supported_archs();

// The description of `name`, or null when this build does not support it.
const ArchSpec* find_arch(std::string_view name);

}  // namespace qrag::model
