// Per-tensor type choice of the quantizer: targets, mixes (q4_k_m...), block-size fallbacks.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_file.h"

namespace qrag::engine {

using gguf::GgmlType;

// A recipe that gives some tensors more bits than the base type (see docs/quantization.md).
enum class Mix { kNone, kQ3_K_M, kQ4_K_S, kQ4_K_M, kQ5_K_S, kQ5_K_M, kQ6_K };

// The requested output of `qrag quantize`: one storage type for every matrix
// (mix kNone) or a mix built on a base type.
struct QuantTarget {
  std::string name;        // canonical upper-case name: "Q8_0", "Q4_K_M"
  GgmlType base_type = GgmlType::F16;
  Mix mix = Mix::kNone;
  std::uint32_t file_type = 1;  // llama.cpp's LLAMA_FTYPE number for general.file_type
};

// Parses a target name, case-insensitively: f32, f16, bf16, q8_0, q4_0, q4_1,
// q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, or a mix q3_k_m, q4_k_s,
// q4_k_m, q5_k_s, q5_k_m, q6_k (the plain Q6_K target and the q6_k mix are the
// same). Returns nullopt for any other name.
std::optional<QuantTarget> parse_quant_target(std::string_view name);

// Every accepted target name, lower case, for help texts and error messages.
std::vector<std::string> quant_target_names();

struct PolicyOptions {
  bool keep_output = false;                   // output.weight keeps its input type and bytes
  std::optional<GgmlType> token_embd_type;    // type for token_embd.weight (then the fallbacks)
};

// The decision for one tensor.
struct TensorChoice {
  GgmlType type = GgmlType::F32;    // type written to the output file
  GgmlType wanted = GgmlType::F32;  // type the recipe asked for, before the block-size fallback
  bool copy = false;                // bytes copied unchanged from the input (type == input type)
  bool fell_back = false;           // wanted's block size does not divide the row length
  std::string reason;               // why: "1-D", "mix: more bits", "fallback: row length 172 ...", ...
};

// Returns the first type of `wanted`'s fallback chain whose block size divides
// `row_length`: wanted itself, then for K-quants the 32-element type of about the
// same size (Q2_K, Q3_K -> IQ4_NL; Q4_K -> Q5_0; Q5_K -> Q5_1; Q6_K -> Q8_0),
// then F16, which fits every length.
GgmlType fallback_type(GgmlType wanted, std::int64_t row_length);

// Layer index parsed from a GGUF tensor name "blk.N.<...>", or nullopt.
std::optional<int> layer_index(std::string_view tensor_name);

// Chooses the output type of every tensor of one input file. Construct it with
// all tensors of the file, because the mixes count layers and look for
// output.weight. Immutable after construction, so safe to share between threads.
class QuantPolicy {
 public:
  QuantPolicy(QuantTarget target, PolicyOptions options, std::span<const gguf::TensorInfo> tensors);

  TensorChoice choose(const gguf::TensorInfo& info) const;
  const QuantTarget& target() const { return target_; }

 private:
  GgmlType recipe_type(const gguf::TensorInfo& info, std::string& reason) const;
  GgmlType mix_type(std::string_view name, std::string& reason) const;

  QuantTarget target_;
  PolicyOptions options_;
  int n_attn_v_ = 0;    // attn_v.weight tensors (one per layer in llama models)
  int n_ffn_down_ = 0;  // ffn_down.weight tensors
  bool has_output_ = false;  // false: token_embd.weight doubles as the output matrix
};

// True for tensors the quantizer converts (2-D or more, named "*weight", not a
// norm or a MoE router), false for those kept in F32 or copied.
bool is_quantizable_matrix(const gguf::TensorInfo& info);

}  // namespace qrag::engine
