// AVX-512 versions of the attention inner loops and RMS norm; other vector ops keep their AVX2 versions.
// GCC 12 reports the deliberately undefined vectors inside its own AVX-512
// intrinsics (_mm512_reduce_add_ps, _mm512_cvtph_ps) as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "kernels/dispatch.h"

namespace qrag::kernels {
namespace {

inline __mmask16 tail_mask(std::int64_t count) {
  return static_cast<__mmask16>((1u << static_cast<unsigned>(count)) - 1u);
}

void rms_norm_avx512(const float* x, const float* weight, float* out, std::int64_t n, float eps) {
  __m512 acc = _mm512_setzero_ps();
  for (std::int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
    acc = _mm512_fmadd_ps(v, v, acc);
  }
  const float inv = 1.0f / std::sqrt(_mm512_reduce_add_ps(acc) / static_cast<float>(n) + eps);
  const __m512 vinv = _mm512_set1_ps(inv);
  for (std::int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, x + i), vinv);
    if (weight != nullptr) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(mask, weight + i));
    _mm512_mask_storeu_ps(out + i, mask, v);
  }
}

float dot_f16_avx512(const f16_bits* k, const float* q, std::int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  for (std::int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    const __m512 kv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, k + i));
    acc = _mm512_fmadd_ps(kv, _mm512_maskz_loadu_ps(mask, q + i), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// Multiply and add stay separate (no FMA) to match axpy_f16_ref bit for bit.
void axpy_f16_avx512(float a, const f16_bits* v, float* acc, std::int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  for (std::int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    const __m512 vv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, v + i));
    const __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, acc + i), _mm512_mul_ps(va, vv));
    _mm512_mask_storeu_ps(acc + i, mask, sum);
  }
}

}  // namespace

void fill_avx512_vec(KernelTable& table) {
  table.rms_norm = rms_norm_avx512;
  table.dot_f16 = dot_f16_avx512;
  table.axpy_f16 = axpy_f16_avx512;
}

}  // namespace qrag::kernels
