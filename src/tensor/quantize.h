// Row-wise conversion between F32 and every supported GGML storage type.
#pragma once

#include <cstdint>
#include <span>

#include "gguf/ggml_type.h"

namespace qrag::tensor {

using gguf::GgmlType;

// Converts n floats into `type`'s blocks at `out` (row_size(type, n) bytes).
// n must be a multiple of the type's block size. `importance` (n weights, may
// be null) selects importance-weighted quantization where the type supports it.
// Throws qrag::Error when x holds NaN or Inf, or the type cannot be written.
void quantize_row(GgmlType type, const float* x, void* out, std::int64_t n,
                  const float* importance = nullptr);

// Converts n elements of `type` at `in` back to floats.
void dequantize_row(GgmlType type, const void* in, float* out, std::int64_t n);

// True when quantize_row / dequantize_row support the type.
bool can_quantize(GgmlType type);
bool can_dequantize(GgmlType type);

}  // namespace qrag::tensor
