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
};

inline constexpr int kMaxTypeId = 40;  // GgmlType ids are below this

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

// The immutable table of a level, built on first use (thread-safe). The caller
// must have checked that the CPU supports the level.
const KernelTable& kernel_table(IsaLevel level);

// True when the running CPU supports `level`.
bool isa_available(IsaLevel level);

}  // namespace qrag::kernels
