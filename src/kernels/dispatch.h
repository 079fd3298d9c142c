// Per-ISA kernel function table (internal to src/kernels and its tests).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

// NOTE: this header is included by the *_avx2.cpp / *_avx512.cpp files, so it
// declares only plain structs and functions (no inline code). Those files avoid
// standard-library templates in their code, because the linker keeps one copy of
// each inline function, possibly one compiled with AVX instructions.

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

// One attention tile: n_q query heads that share one kv head, over the visible
// cache positions [lo, hi). kv_mask is null or [hi] (0 hides a position).
//   k, v: F16 rows of that kv head, row j at k + j * kv_row.
//   q, out: [n_q][head_dim] F32. scores: scratch of n_q * (hi - lo) floats.
// out[r] = sum_j softmax_j(scale * q[r] . k_j) v_j; zeros when no key is visible.
struct AttendArgs {
  const f16_bits* k;
  const f16_bits* v;
  std::int64_t kv_row;
  std::int64_t lo;
  std::int64_t hi;
  const std::uint8_t* kv_mask;
  const float* q;
  float* out;
  int n_q;
  int head_dim;
  float scale;
  float* scores;
};

// Returns false when it does not handle args.head_dim or args.n_q (the caller
// then runs the generic loop over dot_f16 and axpy_f16).
using AttendFn = bool (*)(const AttendArgs& args);

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

  // Attention inner loops over F16 cache rows.
  float (*dot_f16)(const f16_bits* k, const float* q, std::int64_t n);          // sum k[i]*q[i]
  void (*axpy_f16)(float a, const f16_bits* v, float* acc, std::int64_t n);      // acc += a*v
  void (*f32_to_f16)(const float* x, f16_bits* out, std::int64_t n);
  AttendFn attend = nullptr;  // null: the generic loop only
};

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

// The immutable table of a level, built on first use (thread-safe). The caller
// must have checked that the CPU supports the level.
const KernelTable& kernel_table(IsaLevel level);

// True when the running CPU supports `level`.
bool isa_available(IsaLevel level);

}  // namespace qrag::kernels
