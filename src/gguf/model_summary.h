// The facts people look for first in a model file: architecture, sizes,
// vocabulary, parameter count and bits per weight (for `qrag inspect` and logs).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_file.h"

namespace qrag::gguf {

// Tensors of one type.
struct TypeCount {
  GgmlType type = GgmlType::F32;
  std::size_t n_tensors = 0;
  std::uint64_t n_elements = 0;
  std::uint64_t n_bytes = 0;
};

// Read from the metadata keys named in the comments; a hyperparameter is
// nullopt when its key is absent or not a single unsigned integer (the latter
// also adds a warning). Nothing is defaulted or inferred.
struct ModelSummary {
  std::string architecture;                     // general.architecture
  std::string name;                             // general.name
  std::optional<std::uint64_t> context_length;  // <arch>.context_length
  std::optional<std::uint64_t> n_layer;         // <arch>.block_count
  std::optional<std::uint64_t> n_embd;          // <arch>.embedding_length
  std::optional<std::uint64_t> n_head;          // <arch>.attention.head_count
  std::optional<std::uint64_t> n_head_kv;       // <arch>.attention.head_count_kv
  std::optional<std::uint64_t> n_ff;            // <arch>.feed_forward_length
  // Length of tokenizer.ggml.tokens, else <arch>.vocab_size.
  std::optional<std::uint64_t> vocab_size;
  std::string tokenizer_model;                  // tokenizer.ggml.model
  std::string tokenizer_pre;                    // tokenizer.ggml.pre
  std::optional<std::uint64_t> file_type;       // general.file_type (llama.cpp's llama_ftype)

  std::uint64_t n_params = 0;      // elements over all tensors
  std::uint64_t tensor_bytes = 0;  // bytes of tensor data, padding excluded
  double bits_per_weight = 0;      // tensor_bytes * 8 / n_params; 0 without tensors
  std::vector<TypeCount> tensor_types;  // in type-id order, only types present
  std::vector<std::string> warnings;    // keys present with an unusable type
};

ModelSummary summarize(const GgufFile& file);

// llama.cpp's name for a general.file_type id ("MOSTLY_Q4_K_M"), or nullopt.
std::optional<std::string_view> file_type_name(std::uint64_t id);

}  // namespace qrag::gguf
