// Architecture descriptions: what differs between decoder families that share building blocks.
#pragma once

#include <span>
#include <string_view>

#include "kernels/kernels.h"

namespace qrag::model {

// One supported architecture. The forward pass is assembled from the shared
// blocks in model/blocks.h according to these fields, so a new family (qwen2:
// Q/K/V biases and NeoX RoPE; gemma3: extra norms, GELU and sliding windows;
// bert: an encoder without a KV cache) adds fields and a row here rather than a
// new monolithic forward function.
struct ArchSpec {
  std::string_view name;        // general.architecture value, also the metadata key prefix
  kernels::RopeMode rope_mode;  // pairing of rotated dimensions
  bool causal;                  // decoder (causal mask, KV cache)
};

// The architectures this build can run, e.g. {"llama"}.
std::span<const ArchSpec> supported_archs();

// The description of `name`, or null when this build does not support it.
const ArchSpec* find_arch(std::string_view name);

}  // namespace qrag::model
