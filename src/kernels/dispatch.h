// Per-ISA kernel function table (internal to src/kernels and its tests).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

// NOTE: this header is included by the *_avx2.cpp / *_avx512.cpp files, so it
// declares only plain structs, constants and functions (no inline code). Those
// files avoid standard-library templates in their code, because the linker keeps
// one copy of each inline function, possibly one compiled with AVX instructions.

namespace qrag::kernels {

// Arguments of one matmul row range. x contains n_batch activation rows in the
// kernel's activation type, x_row_bytes apart; y is [n_batch][w->n_rows] F32.
struct MatmulArgs {
  const WeightView* w;
  GgmlType act_type;  // type of the x rows (F32 when unconverted)
  const void* x;
  std::size_t x_row_bytes;
  float* y;
  int n_batch;
  // The calling thread's scratch of MatmulKernel::scratch_bytes bytes, 64-byte
  // aligned, or null when the kernel requests none.
  void* scratch = nullptr;
};

// Computes y[b][n] for every b < n_batch and n in [row_begin, row_end).
// The operations that produce one y element must not depend on row_begin,
// row_end or n_batch, so that any partition gives identical bits.
using MatmulRowsFn = void (*)(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);

// Converts one F32 activation row of n elements into the activation type.
using QuantizeRowFn = void (*)(const float* x, void* out, std::int64_t n);

struct MatmulKernel {
  GgmlType act_type = GgmlType::F32;  // F32: x is used as is
  QuantizeRowFn quantize = nullptr;   // null when act_type is F32
  MatmulRowsFn rows = nullptr;        // null: weight type unsupported
  // Per-thread scratch that `rows` needs for n_batch activation rows of k
  // elements; null when it needs none.
  std::size_t (*scratch_bytes)(int n_batch, std::int64_t k) = nullptr;
};

inline constexpr int kMaxTypeId = 40;  // GgmlType ids are below this

// A chunk of n_tokens consecutive query tokens whose `group` query heads share one
// kv head. Token t attends to the cache positions [lo[t], hi[t]) (and, when kv_mask
// is not null, only to those with kv_mask[j] != 0).
//   k, v: F16 rows of that kv head, row j at k + j * kv_row.
//   q: token t's heads at q + t * q_stride, [group][head_dim] F32; out likewise.
//   scratch: chunk_scratch_floats(head_dim, n_keys) floats, n_keys >= max hi - min lo.
// Every output must depend only on its own query and keys, never on the chunk it
// was computed in, so that decoding one token and prefilling many give equal bits.
struct AttendChunkArgs {
  const f16_bits* k;
  const f16_bits* v;
  std::int64_t kv_row;
  int n_tokens;
  int group;
  const std::int64_t* lo;
  const std::int64_t* hi;
  const std::uint8_t* kv_mask;
  const float* q;
  std::int64_t q_stride;
  float* out;
  std::int64_t out_stride;
  int head_dim;
  float scale;
  float* scratch;
};

// Returns the floats of scratch an AttendChunkFn needs. It is defined in ops.cpp,
// outside the ISA translation units, following the NOTE above.
std::size_t chunk_scratch_floats(int head_dim, std::int64_t n_keys);

// Returns false when it does not handle the head size or more than 16 query heads
// per chunk (the caller then runs the generic loop over dot_f16 and axpy_f16).
using AttendChunkFn = bool (*)(const AttendChunkArgs& args);

struct KernelTable {
  IsaLevel level = IsaLevel::kScalar;
  MatmulKernel matmul[kMaxTypeId];  // indexed by the GgmlType id

  // Row-wise vector ops, one row of n elements per call.
  void (*rms_norm)(const float* x, const float* weight, float* out, std::int64_t n, float eps);
  void (*layer_norm)(const float* x, const float* weight, const float* bias, float* out,
                     std::int64_t n, float eps);
  void (*softmax)(float* x, std::int64_t n);
  void (*silu)(const float* x, float* out, std::int64_t n);
  void (*gelu)(const float* x, float* out, std::int64_t n);
  void (*gelu_erf)(const float* x, float* out, std::int64_t n);
  void (*swiglu)(const float* gate, const float* up, float* out, std::int64_t n);
  void (*add)(const float* a, const float* b, float* out, std::int64_t n);
  void (*mul)(const float* a, const float* b, float* out, std::int64_t n);
  void (*scale)(const float* x, float s, float* out, std::int64_t n);
  // out[i] = x[i] rounded to the nearest F16 (ties to even) and widened back.
  void (*round_to_f16)(const float* x, float* out, std::int64_t n);

  // Rotates the RoPE pairs of n_heads heads, head h at x + h * head_dim. Pair i
  // (i < half) is (2i, 2i+1) in normal mode and (i, i + half) in NeoX mode, and
  // turns by the angle whose cosine and sine are cos_theta[i] and sin_theta[i].
  void (*rope_rotate)(float* x, int n_heads, int head_dim, int half, RopeMode mode, const float* cos_theta,
                      const float* sin_theta);

  // Attention inner loops over F16 cache rows.
  float (*dot_f16)(const f16_bits* k, const float* q, std::int64_t n);          // sum k[i]*q[i]
  void (*axpy_f16)(float a, const f16_bits* v, float* acc, std::int64_t n);      // acc += a*v
  void (*f32_to_f16)(const float* x, f16_bits* out, std::int64_t n);
  AttendChunkFn attend_chunk = nullptr;  // null: the generic loop only
};

// Approximation of the upper normal tail for the SIMD gelu_erf kernels:
// Phi(-a) = 0.5 erfc(a / sqrt2) ~ exp(-a^2 / 2) t P(t) with
// t = 1 / (1 + kGeluErfTailScale a) and a >= 0. P has degree 9, and
// kGeluErfTailCoef lists its coefficients, constant term first. They were fitted
// for this project by iteratively reweighted least squares on the maximum
// relative error over a in [0, 13.25]. The fit is within 0.25u of Phi(-a) in exact
// arithmetic and within 4.7u when evaluated in float (t rounded, Horner with FMA),
// measured on 400001 points against scipy.special.erfcx (u = 2^-24).
inline constexpr float kGeluErfTailScale = 0.4f;
inline constexpr float kGeluErfTailCoef[10] = {
    1.595768631e-01f,  1.596074849e-01f, 1.333126128e-01f, 9.050710499e-02f,  -2.440872975e-02f,
    1.149190366e-01f, -3.685132861e-01f, 3.781571686e-01f, -1.750468910e-01f, 3.188863769e-02f};
// Largest x^2 for which the SIMD exp does not clamp exp(-x^2 / 2). Beyond it
// Phi(-|x|) is below 4e-40, and the kernels flush it to 0.
inline constexpr float kGeluErfMaxSquare = 174.67308f;

// Fills `table` with the scalar reference kernels (fill_scalar_table calls both).
void fill_scalar_table(KernelTable& table);
void fill_scalar_matmul(KernelTable& table);
// Overwrite the entries that have an AVX2 (resp. AVX-512) version. Call only
// when the CPU supports that level.
void fill_avx2_matmul(KernelTable& table);
void fill_avx2_kquant(KernelTable& table);
void fill_avx2_vec(KernelTable& table);
// `vnni`: the CPU has AVX512_VNNI (selects the vpdpbusd kernels).
void fill_avx512_matmul(KernelTable& table, bool vnni);
void fill_avx512_vec(KernelTable& table);
void fill_avx512_attention(KernelTable& table);
// K-quant tiles with vpdpwssd; call only when the CPU has AVX512_VNNI (keeps the
// AVX2 activation quantizer).
void fill_avx512_kquant(KernelTable& table);

// The immutable table of a level, built on first use (thread-safe). The caller
// must have checked that the CPU supports the level.
const KernelTable& kernel_table(IsaLevel level);

// True when the running CPU supports `level`.
bool isa_available(IsaLevel level);

}  // namespace qrag::kernels
