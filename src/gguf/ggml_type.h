// GGML tensor element types as numbered in GGUF files, with their block layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace qrag::gguf {

// Values are the on-disk type ids of GGUF (ggml's enum ggml_type). Ids 4, 5
// and 31-33 belong to removed types and are rejected by the reader.
enum class GgmlType : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

// Storage layout of one type: `block_size` elements take `type_size` bytes.
struct GgmlTypeLayout {
  GgmlType type;
  std::string_view name;  // as ggml prints it: "f32", "q4_0", "q4_K", ...
  std::int64_t block_size;
  std::size_t type_size;
  bool quantized;
};

// Layout of a known type id, or nullopt for an unknown or removed id.
std::optional<GgmlTypeLayout> find_type_layout(std::uint32_t type_id);

// Layout of a known type (never fails for a GgmlType value listed above).
const GgmlTypeLayout& type_layout(GgmlType type);

inline std::string_view type_name(GgmlType type) { return type_layout(type).name; }

// Parses a type name, case-insensitively ("q4_k", "Q4_K", "f16"); nullopt if unknown.
std::optional<GgmlType> parse_type_name(std::string_view name);

// Bytes of a row of n_elements; n_elements must be a multiple of the block size
// (checked: throws qrag::Error otherwise).
std::size_t row_size(GgmlType type, std::int64_t n_elements);

}  // namespace qrag::gguf
