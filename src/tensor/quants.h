// Per-type scalar reference quantizers and dequantizers for the supported GGML block formats.
#pragma once

#include <cstdint>

#include "tensor/blocks.h"

namespace qrag::tensor {

// Conventions for every function below:
//   x: [n] F32 input, y: [n / block_size] blocks (or [n] for F16/BF16) written in full.
//   n must be a multiple of the type's block size (checked with QRAG_CHECK).
//   Inputs must be finite; quantize_row / quantize_tensor in tensor/quantize.h check
//   that and throw qrag::Error, these functions do not.
//   `importance`: [n] non-negative per-element weights or null. With weights the
//   quantizer minimizes sum importance[i] * (x[i] - dequantized[i])^2 and never
//   returns a result worse, by that measure, than its unweighted quantizer's.
// All functions are pure and thread-safe.

// ---- F16 / BF16 rows (round-to-nearest-even, see tensor/fp16.h) ----------------
void quantize_row_f16(const float* x, f16_bits* y, std::int64_t n);
void dequantize_row_f16(const f16_bits* x, float* y, std::int64_t n);
void quantize_row_bf16(const float* x, bf16_bits* y, std::int64_t n);
void dequantize_row_bf16(const bf16_bits* x, float* y, std::int64_t n);

// ---- 32-wide legacy formats ---------------------------------------------------
// Without importance these are byte-identical to ggml's reference quantizers
// (quantize_row_*_ref), so SIMD versions can be compared bit for bit.
void quantize_row_q4_0(const float* x, block_q4_0* y, std::int64_t n, const float* importance = nullptr);
void quantize_row_q4_1(const float* x, block_q4_1* y, std::int64_t n);
void quantize_row_q5_0(const float* x, block_q5_0* y, std::int64_t n);
void quantize_row_q5_1(const float* x, block_q5_1* y, std::int64_t n);
void quantize_row_q8_0(const float* x, block_q8_0* y, std::int64_t n);
void dequantize_row_q4_0(const block_q4_0* x, float* y, std::int64_t n);
void dequantize_row_q4_1(const block_q4_1* x, float* y, std::int64_t n);
void dequantize_row_q5_0(const block_q5_0* x, float* y, std::int64_t n);
void dequantize_row_q5_1(const block_q5_1* x, float* y, std::int64_t n);
void dequantize_row_q8_0(const block_q8_0* x, float* y, std::int64_t n);

// ---- activation formats (ggml reference semantics, bit-exact) -----------------
// Q8_1: d = max|x| / 127, qs = round-half-away(x / d), s = fp16(d * sum(qs)).
void quantize_row_q8_1(const float* x, block_q8_1* y, std::int64_t n);
void dequantize_row_q8_1(const block_q8_1* x, float* y, std::int64_t n);
// Q8_K: F32 d = -max/127 over 256 values where max is the value of largest magnitude,
// qs = min(127, nearest-even(x / d)), bsums = sums of 16 qs. An all-zero block gets
// d = 0 and zero qs and bsums.
void quantize_row_q8_K(const float* x, block_q8_K* y, std::int64_t n);
void dequantize_row_q8_K(const block_q8_K* x, float* y, std::int64_t n);

// ---- K-quants (256-wide super-blocks) and IQ4_NL -------------------------------
// The quantizers run ggml's iterative scale searches (weighted least-squares fits over
// grids of candidate scales) once per weighting: ggml's own, uniform, and with importance
// the importance and importance * sqrt(sigma2 + x^2). Per super-block (per block for
// IQ4_NL) they keep the result with the lowest importance-weighted squared error. The
// first candidate is ggml's reference result, so they are never worse than it.
void quantize_row_q2_K(const float* x, block_q2_K* y, std::int64_t n, const float* importance = nullptr);
void quantize_row_q3_K(const float* x, block_q3_K* y, std::int64_t n, const float* importance = nullptr);
void quantize_row_q4_K(const float* x, block_q4_K* y, std::int64_t n, const float* importance = nullptr);
void quantize_row_q5_K(const float* x, block_q5_K* y, std::int64_t n, const float* importance = nullptr);
void quantize_row_q6_K(const float* x, block_q6_K* y, std::int64_t n, const float* importance = nullptr);
void quantize_row_iq4_nl(const float* x, block_iq4_nl* y, std::int64_t n, const float* importance = nullptr);
// ggml's reference searches alone (quantize_row_*_ref, no importance): byte-identical
// to ggml, for comparing SIMD quantizers and files made by other tools.
void quantize_row_q2_K_ref(const float* x, block_q2_K* y, std::int64_t n);
void quantize_row_q3_K_ref(const float* x, block_q3_K* y, std::int64_t n);
void quantize_row_q4_K_ref(const float* x, block_q4_K* y, std::int64_t n);
void quantize_row_q5_K_ref(const float* x, block_q5_K* y, std::int64_t n);
void quantize_row_q6_K_ref(const float* x, block_q6_K* y, std::int64_t n);
void quantize_row_iq4_nl_ref(const float* x, block_iq4_nl* y, std::int64_t n);
void dequantize_row_q2_K(const block_q2_K* x, float* y, std::int64_t n);
void dequantize_row_q3_K(const block_q3_K* x, float* y, std::int64_t n);
void dequantize_row_q4_K(const block_q4_K* x, float* y, std::int64_t n);
void dequantize_row_q5_K(const block_q5_K* x, float* y, std::int64_t n);
void dequantize_row_q6_K(const block_q6_K* x, float* y, std::int64_t n);
void dequantize_row_iq4_nl(const block_iq4_nl* x, float* y, std::int64_t n);

// The 16 signed levels of IQ4_NL (and IQ4_XS), indexed by the 4-bit code.
inline constexpr std::int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                 1,    13,   25,  38,  53,  69,  89,  113};

// Decoders of the packed sub-block scales, shared with the SIMD kernels.
// Q4_K/Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12 scale bytes.
void unpack_scale_min_k4(int j, const std::uint8_t* scales, std::uint8_t* scale, std::uint8_t* min);
// Q3_K: the 16 signed 6-bit sub-block scales (-32..31) from the 12 scale bytes.
void unpack_scales_q3_K(const std::uint8_t* scales, std::int8_t* out);

}  // namespace qrag::tensor
