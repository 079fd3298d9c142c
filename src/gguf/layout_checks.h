// Internal helpers shared by the GGUF reader and writer: tensor sizes with
// overflow checks, alignment arithmetic and the encoded sizes of value types.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "gguf/ggml_type.h"
#include "gguf/value.h"

namespace qrag::gguf::detail {

// Deepest nesting of arrays inside arrays accepted by the reader and writer
// (an array of scalars has depth 1). Bounds the parser's recursion.
inline constexpr int kMaxArrayDepth = 8;

// GGUF keys are at most 65535 bytes long (GGUF specification).
inline constexpr std::uint64_t kMaxKeyLength = 65535;

// Smallest possible encoded sizes, used to reject absurd counts before allocating:
// a KV is at least key length (8) + type (4) + a 1-byte value; a tensor info is
// at least name length (8) + n_dims (4) + type (4) + offset (8).
inline constexpr std::uint64_t kMinKvBytes = 13;
inline constexpr std::uint64_t kMinTensorInfoBytes = 24;

inline constexpr bool is_power_of_two(std::uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// Rounds x up to a multiple of `alignment` (a power of two); x must leave room.
inline constexpr std::uint64_t align_up(std::uint64_t x, std::uint64_t alignment) {
  return (x + alignment - 1) & ~(alignment - 1);
}

// True for the 13 value type ids defined by GGUF.
inline bool is_known_value_type(std::uint32_t id) { return id <= static_cast<std::uint32_t>(ValueType::FLOAT64); }

// Bytes one value of `type` takes at least on disk (8 for a string's length, 12
// for an array's element type and count).
std::uint64_t min_encoded_size(ValueType type);

// Bytes taken by one element of a fixed-size scalar type, or 0 for STRING/ARRAY.
std::uint64_t scalar_size(ValueType type);

// Bytes of a tensor of `type` with dimensions ne (ne[0] first; 0 to 4 entries).
// Throws qrag::Error naming the problem: a dimension below 1, an element count
// or byte size that overflows int64, or a row length that is not a multiple of
// the type's block size.
std::uint64_t checked_tensor_bytes(const GgmlTypeLayout& layout, std::span<const std::int64_t> ne);

// "[64, 172]": the shape as written in messages.
std::string shape_string(std::span<const std::int64_t> ne);

}  // namespace qrag::gguf::detail
