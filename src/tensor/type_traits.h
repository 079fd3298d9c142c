// Per-type traits: block layout, row converters and the activation type of each dot product.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gguf/ggml_type.h"

namespace qrag::tensor {

using gguf::GgmlType;

// Converts n elements of the type at `in` to F32 `out` [n].
using ToFloatFn = void (*)(const void* in, float* out, std::int64_t n);
// Converts F32 `x` [n] to the type at `out` (row_size(type, n) bytes), ggml reference semantics.
using FromFloatFn = void (*)(const float* x, void* out, std::int64_t n);
// Like FromFloatFn, minimizing sum importance[i] * (x[i] - q[i])^2; importance [n] or null.
using FromFloatWeightedFn = void (*)(const float* x, void* out, std::int64_t n, const float* importance);

// Static description of one type. The vec_dot kernels themselves live in src/kernels:
// a weight row of `type` is multiplied with an activation row converted by
// type_traits(vec_dot_type).from_float.
struct TypeTraits {
  GgmlType type;
  std::int64_t block_size;                  // elements per block (1 for F32/F16/BF16)
  std::size_t type_size;                    // bytes per block
  ToFloatFn to_float;                       // null when the type cannot be decoded
  FromFloatFn from_float;                   // null when the type cannot be written
  FromFloatWeightedFn from_float_weighted;  // null unless importance weighting is supported
  GgmlType vec_dot_type;                    // activation type paired with this weight type
};

// Returns the traits of a type. Types outside the supported set get null converters
// and vec_dot_type F32.
const TypeTraits& type_traits(GgmlType type);

}  // namespace qrag::tensor
