// Row-wise conversion between F32 and every supported GGML storage type.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "gguf/ggml_type.h"

namespace qrag::core {
class ThreadPool;
}

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

// Quantizes a row-major F32 tensor x [n_rows][n_per_row] into `out`
// (n_rows * row_size(type, n_per_row) bytes, rows packed back to back).
// `importance`: per-column weights [n_per_row] (an importance matrix entry) or null;
// types without importance weighting ignore it. Rows are split over `pool` (null:
// the calling thread) in fixed chunks, so the bytes do not depend on the thread count.
// Throws qrag::Error naming the tensor ("tensor 'NAME': row R: ...") for a NaN or Inf
// element or for values so large that a block scale overflows F16. It also throws for
// invalid importance values, a row length that is not a multiple of the block size, or
// a type that cannot be written. Rows before the failing one may already be written. Callers on different
// threads need different pools (a ThreadPool runs one job at a time); `out` must not
// overlap x.
void quantize_tensor(GgmlType type, const float* x, std::int64_t n_rows, std::int64_t n_per_row,
                     void* out, const float* importance, std::string_view tensor_name,
                     core::ThreadPool* pool);

}  // namespace qrag::tensor
