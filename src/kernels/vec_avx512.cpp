// AVX-512 versions of the attention inner loops, the norms and exact GELU. Other vector ops keep their AVX2 versions.
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

// Returns v unchanged. GCC contracts a * b + c into an FMA in C++ by default
// (-ffp-contract=fast), and the empty asm stops that for the product that made
// v, where a kernel must round like its scalar reference.
inline __m512 keep_rounded(__m512 v) {
  __asm__("" : "+v"(v));
  return v;
}

inline __mmask16 block_mask(std::int64_t i, std::int64_t n) {
  return n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
}

// Adds the squares (or the values, when square is false) of the 16 lanes of v
// to acc in double. Products of two floats are exact in double, so the FMA adds
// the same terms as layer_norm_ref's separate product and sum.
inline __m512d add_pd(__m512d acc, __m512 v, bool square) {
  const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
  const __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
  if (square) return _mm512_fmadd_pd(hi, hi, _mm512_fmadd_pd(lo, lo, acc));
  return _mm512_add_pd(_mm512_add_pd(acc, lo), hi);
}

// Same steps as layer_norm_avx2: sums in double, then the reference's separately
// rounded (x - mean) * inv * weight + bias.
void layer_norm_avx512(const float* x, const float* weight, const float* bias, float* out, std::int64_t n,
                       float eps) {
  __m512d sum = _mm512_setzero_pd();
  for (std::int64_t i = 0; i < n; i += 16) sum = add_pd(sum, _mm512_maskz_loadu_ps(block_mask(i, n), x + i), false);
  const auto mean = static_cast<float>(_mm512_reduce_add_pd(sum) / static_cast<double>(n));
  const __m512 vmean = _mm512_set1_ps(mean);

  __m512d var = _mm512_setzero_pd();
  for (std::int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = block_mask(i, n);
    var = add_pd(var, _mm512_maskz_sub_ps(mask, _mm512_maskz_loadu_ps(mask, x + i), vmean), true);
  }
  const auto variance = static_cast<float>(_mm512_reduce_add_pd(var) / static_cast<double>(n));
  const float inv = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(variance + eps)));
  const __m512 vinv = _mm512_set1_ps(inv);

  for (std::int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = block_mask(i, n);
    __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + i), vmean), vinv);
    if (weight != nullptr) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(mask, weight + i));
    if (bias != nullptr) v = _mm512_add_ps(keep_rounded(v), _mm512_maskz_loadu_ps(mask, bias + i));
    _mm512_mask_storeu_ps(out + i, mask, v);
  }
}

// exp8 of vec_avx2.cpp on 16 lanes, with the same steps and constants: e^r by
// a degree-6 polynomial (Cephes expf coefficients) times 2^n, inputs clamped to
// [-87.3, 88].
inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.33654f)), _mm512_set1_ps(88.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
  // 2^n by building the exponent field.
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

// gelu_erf8 of vec_avx2.cpp on 16 lanes, with the same steps and error bound (13.7u |y|).
inline __m512 gelu_erf16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 a = _mm512_abs_ps(x);
  // x^2 = hi + lo exactly, and exp(-x^2/2) = exp(-hi/2) (1 - lo/2) to first order.
  const __m512 hi = _mm512_mul_ps(x, x);
  const __m512 lo = _mm512_fmsub_ps(x, x, hi);
  __m512 e = exp16(_mm512_mul_ps(_mm512_set1_ps(-0.5f), hi));
  e = _mm512_fnmadd_ps(e, _mm512_mul_ps(_mm512_set1_ps(0.5f), lo), e);
  const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(a, _mm512_set1_ps(kGeluErfTailScale), one));
  __m512 p = _mm512_set1_ps(kGeluErfTailCoef[9]);
  for (int k = 8; k >= 0; --k) p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(kGeluErfTailCoef[k]));
  __m512 tail = _mm512_mul_ps(_mm512_mul_ps(e, t), p);
  tail = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(hi, _mm512_set1_ps(kGeluErfMaxSquare), _CMP_LE_OQ), tail);
  // Lanes with the sign bit set (negative x and -0) take Phi(-|x|), the others 1 - Phi(-|x|).
  const __mmask16 negative = _mm512_movepi32_mask(_mm512_castps_si512(x));
  return _mm512_mul_ps(x, _mm512_mask_blend_ps(negative, _mm512_sub_ps(one, tail), tail));
}

// The masked last block goes through gelu_erf16 as well, so an element's result
// does not depend on its offset in the range.
void gelu_erf_avx512(const float* x, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = block_mask(i, n);
    _mm512_mask_storeu_ps(out + i, mask, gelu_erf16(_mm512_maskz_loadu_ps(mask, x + i)));
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

// NOTE: GCC contracts the multiply and add into an FMA (its default -ffp-contract=fast),
// so the result can differ from axpy_f16_ref in the last bit.
void axpy_f16_avx512(float a, const f16_bits* v, float* acc, std::int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  for (std::int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    const __m512 vv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, v + i));
    const __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, acc + i), _mm512_mul_ps(va, vv));
    _mm512_mask_storeu_ps(acc + i, mask, sum);
  }
}

void round_to_f16_avx512(const float* x, float* out, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(h));
  }
  if (i < n) {
    const __mmask16 mask = tail_mask(n - i);
    const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(mask, x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm512_mask_storeu_ps(out + i, mask, _mm512_cvtph_ps(h));
  }
}

}  // namespace

void fill_avx512_vec(KernelTable& table) {
  table.rms_norm = rms_norm_avx512;
  table.layer_norm = layer_norm_avx512;
  table.gelu_erf = gelu_erf_avx512;
  table.dot_f16 = dot_f16_avx512;
  table.axpy_f16 = axpy_f16_avx512;
  table.round_to_f16 = round_to_f16_avx512;
}

}  // namespace qrag::kernels
