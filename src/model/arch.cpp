// Table of supported architectures.
#include "model/arch.h"

#include <array>

namespace qrag::model {
namespace {

constexpr ArchSpec llama_spec() {
  ArchSpec spec;
  spec.name = "llama";
  spec.rope_mode = kernels::RopeMode::kNormal;
  spec.causal = true;
  return spec;
}

// Qwen2 and Qwen2.5: llama blocks with Q/K/V biases and NeoX RoPE. Qwen2 instruct
// models use ChatML.
constexpr ArchSpec qwen2_spec() {
  ArchSpec spec;
  spec.name = "qwen2";
  spec.rope_mode = kernels::RopeMode::kNeox;
  spec.causal = true;
  spec.qkv_bias = true;
  spec.default_chat_template = "chatml";
  return spec;
}

// Gemma 3 (text part): see decoder_blocks.cpp for the block layout.
constexpr ArchSpec gemma3_spec() {
  ArchSpec spec;
  spec.name = "gemma3";
  spec.rope_mode = kernels::RopeMode::kNeox;
  spec.causal = true;
  spec.qk_norm = true;
  spec.post_norms = true;
  spec.scale_embeddings = true;
  spec.sliding_window = true;
  spec.ffn_activation = FfnActivation::kGeluTanh;
  spec.default_chat_template = "gemma";
  return spec;
}

constexpr std::array kArchs = {llama_spec(), qwen2_spec(), gemma3_spec()};

}  // namespace

std::span<const ArchSpec> supported_archs() {
  return kArchs;
}

const ArchSpec* find_arch(std::string_view name) {
  for (const ArchSpec& spec : kArchs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

}  // namespace qrag::model
