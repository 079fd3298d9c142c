// AVX2+FMA+F16C vector ops: norms, softmax, activations, element-wise ops, RoPE and F16 cache rows.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/dispatch.h"

namespace qrag::kernels {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// exp(x) for 8 lanes: x = n ln2 + r with |r| <= ln2/2, then a degree-6 polynomial
// for e^r (Cephes expf coefficients, about 2 ulp) scaled by 2^n. Inputs are
// clamped to [-87.3, 88] (so n stays in [-126, 127]): exp(-inf) gives about
// 1e-38 instead of 0, and inputs above 88 give exp(88).
inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  // 2^n by building the exponent field.
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

// x * sigmoid(a * x) = x / (1 + exp(-a x)).
inline __m256 x_sigmoid(__m256 x, __m256 ax) {
  const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), ax));
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

void rms_norm_avx2(const float* x, const float* weight, float* out, std::int64_t n, float eps) {
  __m256 acc = _mm256_setzero_ps();
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    acc = _mm256_fmadd_ps(v, v, acc);
  }
  float sum = hsum(acc);
  for (; i < n; ++i) sum += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(sum / static_cast<float>(n) + eps);
  const __m256 vinv = _mm256_set1_ps(inv);
  i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv);
    if (weight != nullptr) v = _mm256_mul_ps(v, _mm256_loadu_ps(weight + i));
    _mm256_storeu_ps(out + i, v);
  }
  for (; i < n; ++i) out[i] = x[i] * inv * (weight != nullptr ? weight[i] : 1.0f);
}

void softmax_avx2(float* x, std::int64_t n) {
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  float max = hmax(vmax);
  for (; i < n; ++i) max = x[i] > max ? x[i] : max;
  const __m256 vm = _mm256_set1_ps(max);
  __m256 acc = _mm256_setzero_ps();
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = hsum(acc);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  const __m256 vinv = _mm256_set1_ps(inv);
  i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
  for (; i < n; ++i) x[i] *= inv;
}

void silu_avx2(const float* x, float* out, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    _mm256_storeu_ps(out + i, x_sigmoid(v, v));
  }
  for (; i < n; ++i) out[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void swiglu_avx2(const float* gate, const float* up, float* out, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(x_sigmoid(g, g), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// 0.5 x (1 + tanh(z)) = x * sigmoid(2z) with z = sqrt(2/pi) x (1 + 0.044715 x^2),
// which avoids the cancellation of 1 + tanh(z) for negative x.
void gelu_avx2(const float* x, float* out, std::int64_t n) {
  constexpr float kTwoSqrt2OverPi = 2.0f * 0.79788456080286535588f;
  constexpr float kCoefA = 0.044715f;
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 inner = _mm256_fmadd_ps(_mm256_mul_ps(v, v), _mm256_set1_ps(kCoefA), _mm256_set1_ps(1.0f));
    const __m256 z2 = _mm256_mul_ps(_mm256_mul_ps(v, _mm256_set1_ps(kTwoSqrt2OverPi)), inner);
    _mm256_storeu_ps(out + i, x_sigmoid(v, z2));
  }
  for (; i < n; ++i) {
    const float z2 = kTwoSqrt2OverPi * x[i] * (1.0f + kCoefA * x[i] * x[i]);
    out[i] = x[i] / (1.0f + std::exp(-z2));
  }
}

// Returns v unchanged. GCC contracts a * b + c into an FMA in C++ by default
// (-ffp-contract=fast), and the empty asm stops that for the product that made
// v, where a kernel must round like its scalar reference.
inline __m256 keep_rounded(__m256 v) {
  __asm__("" : "+x"(v));
  return v;
}

// All-ones in the first `count` lanes (count in [0, 8]), for _mm256_maskload_ps.
inline __m256i lane_mask(std::int64_t count) {
  const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), index);
}

// Stores the first `count` lanes (count < 8) of v. Tails avoid _mm256_maskstore_ps,
// which is slow on some CPUs: on an AMD EPYC it made layer_norm_avx2 1.6 times slower.
inline void store_first(float* p, __m256 v, std::int64_t count) {
  float lanes[8];
  _mm256_storeu_ps(lanes, v);
  for (std::int64_t i = 0; i < count; ++i) p[i] = lanes[i];
}

inline double hsum_pd(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
  return _mm_cvtsd_f64(s);
}

// Adds the squares (or the values, when square is false) of the 8 lanes of v to
// acc in double. Products of two floats are exact in double, so the FMA adds the
// same terms as layer_norm_ref's separate product and sum.
inline __m256d add_pd(__m256d acc, __m256 v, bool square) {
  const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
  if (square) return _mm256_fmadd_pd(hi, hi, _mm256_fmadd_pd(lo, lo, acc));
  return _mm256_add_pd(_mm256_add_pd(acc, lo), hi);
}

// The sums accumulate in double, and every output takes layer_norm_ref's separately
// rounded steps. The result therefore matches the reference bit for bit unless the
// other summation order changes the rounded mean or variance. In a one-off check
// that happened in none of 2000 random rows for each of 7 lengths from 1 to 4099.
void layer_norm_avx2(const float* x, const float* weight, const float* bias, float* out, std::int64_t n,
                     float eps) {
  const std::int64_t n_full = n - n % 8;
  const __m256i tail = lane_mask(n - n_full);
  __m256d sum = _mm256_setzero_pd();
  for (std::int64_t i = 0; i < n_full; i += 8) sum = add_pd(sum, _mm256_loadu_ps(x + i), false);
  sum = add_pd(sum, _mm256_maskload_ps(x + n_full, tail), false);
  const auto mean = static_cast<float>(hsum_pd(sum) / static_cast<double>(n));
  const __m256 vmean = _mm256_set1_ps(mean);

  __m256d var = _mm256_setzero_pd();
  for (std::int64_t i = 0; i < n_full; i += 8) var = add_pd(var, _mm256_sub_ps(_mm256_loadu_ps(x + i), vmean), true);
  // The masked-out lanes load 0, so their x - mean is cleared before squaring.
  const __m256 last = _mm256_sub_ps(_mm256_maskload_ps(x + n_full, tail), vmean);
  var = add_pd(var, _mm256_and_ps(last, _mm256_castsi256_ps(tail)), true);
  const float variance = static_cast<float>(hsum_pd(var) / static_cast<double>(n));
  const float inv = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(variance + eps)));
  const __m256 vinv = _mm256_set1_ps(inv);

  for (std::int64_t i = 0; i < n_full; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmean), vinv);
    if (weight != nullptr) v = _mm256_mul_ps(v, _mm256_loadu_ps(weight + i));
    if (bias != nullptr) v = _mm256_add_ps(keep_rounded(v), _mm256_loadu_ps(bias + i));
    _mm256_storeu_ps(out + i, v);
  }
  if (n_full < n) {
    __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + n_full, tail), vmean), vinv);
    if (weight != nullptr) v = _mm256_mul_ps(v, _mm256_maskload_ps(weight + n_full, tail));
    if (bias != nullptr) v = _mm256_add_ps(keep_rounded(v), _mm256_maskload_ps(bias + n_full, tail));
    store_first(out + n_full, v, n - n_full);
  }
}

// GELU x Phi(x) from the upper tail q = Phi(-|x|) <= 0.5 (see kGeluErfTailCoef):
// Phi(x) is q for negative x and 1 - q otherwise, so no result comes from
// cancellation. Error estimate, relative to q: 4.7u (fit and its float
// evaluation, measured) + 4u (exp8, 2 ulp) + 1u (the lo correction) + 2u (two
// products) = 11.7u. The product with x adds u. For x >= 0 the error of q shrinks
// by q / (1 - q) <= 1 and 1 - q adds u, so the bound is 13.7u |y| for every x. The
// worst error measured on a grid over [-14, 14] is 6.3u.
inline __m256 gelu_erf8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
  // x^2 = hi + lo exactly, and exp(-x^2/2) = exp(-hi/2) (1 - lo/2) to first
  // order, which saves the x^2/2 * u relative error of a rounded exponent.
  const __m256 hi = _mm256_mul_ps(x, x);
  const __m256 lo = _mm256_fmsub_ps(x, x, hi);
  __m256 e = exp8(_mm256_mul_ps(_mm256_set1_ps(-0.5f), hi));
  e = _mm256_fnmadd_ps(e, _mm256_mul_ps(_mm256_set1_ps(0.5f), lo), e);
  const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(a, _mm256_set1_ps(kGeluErfTailScale), one));
  __m256 p = _mm256_set1_ps(kGeluErfTailCoef[9]);
  for (int k = 8; k >= 0; --k) p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(kGeluErfTailCoef[k]));
  __m256 tail = _mm256_mul_ps(_mm256_mul_ps(e, t), p);
  tail = _mm256_and_ps(tail, _mm256_cmp_ps(hi, _mm256_set1_ps(kGeluErfMaxSquare), _CMP_LE_OQ));
  // blendv picks by the sign bit: Phi(-|x|) for negative x (and -0), else 1 - Phi(-|x|).
  return _mm256_mul_ps(x, _mm256_blendv_ps(_mm256_sub_ps(one, tail), tail, x));
}

// The last partial block goes through gelu_erf8 as well, so an element's result
// does not depend on its offset in the range (BERT calls this on all tokens at once).
void gelu_erf_avx2(const float* x, float* out, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, gelu_erf8(_mm256_loadu_ps(x + i)));
  if (i < n) store_first(out + i, gelu_erf8(_mm256_maskload_ps(x + i, lane_mask(n - i))), n - i);
}

void add_avx2(const float* a, const float* b, float* out, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

void mul_avx2(const float* a, const float* b, float* out, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; ++i) out[i] = a[i] * b[i];
}

void scale_avx2(const float* x, float s, float* out, std::int64_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
  for (; i < n; ++i) out[i] = x[i] * s;
}

// Rotates the NeoX pairs (x0[j], x1[j]) of one block: x0 c - x1 s and x0 s + x1 c.
inline void rotate8(__m256& x0, __m256& x1, __m256 c, __m256 s) {
  const __m256 a = _mm256_sub_ps(keep_rounded(_mm256_mul_ps(x0, c)), keep_rounded(_mm256_mul_ps(x1, s)));
  const __m256 b = _mm256_add_ps(keep_rounded(_mm256_mul_ps(x0, s)), keep_rounded(_mm256_mul_ps(x1, c)));
  x0 = a;
  x1 = b;
}

// NeoX pairs (i, i + half): x0 = head[i..], x1 = head[half + i..], cos and sin load as is.
void rope_neox_head(float* head, int half, const float* cos_theta, const float* sin_theta) {
  int i = 0;
  for (; i + 8 <= half; i += 8) {
    __m256 x0 = _mm256_loadu_ps(head + i);
    __m256 x1 = _mm256_loadu_ps(head + half + i);
    rotate8(x0, x1, _mm256_loadu_ps(cos_theta + i), _mm256_loadu_ps(sin_theta + i));
    _mm256_storeu_ps(head + i, x0);
    _mm256_storeu_ps(head + half + i, x1);
  }
  if (i < half) {
    const __m256i mask = lane_mask(half - i);
    __m256 x0 = _mm256_maskload_ps(head + i, mask);
    __m256 x1 = _mm256_maskload_ps(head + half + i, mask);
    rotate8(x0, x1, _mm256_maskload_ps(cos_theta + i, mask), _mm256_maskload_ps(sin_theta + i, mask));
    store_first(head + i, x0, half - i);
    store_first(head + half + i, x1, half - i);
  }
}

// Rotates 4 normal pairs v = (x0, x1, ...). With cos and sin duplicated to both
// lanes of a pair and the pair swapped in xs, addsub gives x0 c - x1 s in even
// lanes and x1 c + x0 s in odd lanes.
inline __m256 rotate_pairs8(__m256 v, __m128 c4, __m128 s4) {
  const __m256 c = _mm256_set_m128(_mm_unpackhi_ps(c4, c4), _mm_unpacklo_ps(c4, c4));
  const __m256 s = _mm256_set_m128(_mm_unpackhi_ps(s4, s4), _mm_unpacklo_ps(s4, s4));
  const __m256 xs = _mm256_permute_ps(v, 0xB1);  // swaps the two lanes of each pair
  return _mm256_addsub_ps(keep_rounded(_mm256_mul_ps(v, c)), keep_rounded(_mm256_mul_ps(xs, s)));
}

// Normal pairs (2i, 2i+1): 8 lanes hold 4 pairs.
void rope_normal_head(float* head, int half, const float* cos_theta, const float* sin_theta) {
  int i = 0;
  for (; i + 4 <= half; i += 4) {
    const __m256 v = _mm256_loadu_ps(head + 2 * i);
    _mm256_storeu_ps(head + 2 * i, rotate_pairs8(v, _mm_loadu_ps(cos_theta + i), _mm_loadu_ps(sin_theta + i)));
  }
  if (i < half) {
    const int pairs = half - i;
    const __m128i pair_mask = _mm256_castsi256_si128(lane_mask(pairs));
    const __m256 v = _mm256_maskload_ps(head + 2 * i, lane_mask(2 * pairs));
    const __m256 rotated =
        rotate_pairs8(v, _mm_maskload_ps(cos_theta + i, pair_mask), _mm_maskload_ps(sin_theta + i, pair_mask));
    store_first(head + 2 * i, rotated, 2 * pairs);
  }
}

// Takes rope_rotate_ref's steps (products rounded, no FMA), so the bits match it.
void rope_rotate_avx2(float* x, int n_heads, int head_dim, int half, RopeMode mode, const float* cos_theta,
                      const float* sin_theta) {
  for (int h = 0; h < n_heads; ++h) {
    float* head = x + static_cast<std::int64_t>(h) * head_dim;
    if (mode == RopeMode::kNeox) {
      rope_neox_head(head, half, cos_theta, sin_theta);
    } else {
      rope_normal_head(head, half, cos_theta, sin_theta);
    }
  }
}

float dot_f16_avx2(const f16_bits* k, const float* q, std::int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 kv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i)));
    acc = _mm256_fmadd_ps(kv, _mm256_loadu_ps(q + i), acc);
  }
  float sum = hsum(acc);
  for (; i < n; ++i) sum += _cvtsh_ss(k[i]) * q[i];
  return sum;
}

// NOTE: GCC contracts the multiply and add into an FMA (its default -ffp-contract=fast),
// so the result can differ from axpy_f16_ref in the last bit.
void axpy_f16_avx2(float a, const f16_bits* v, float* acc, std::int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v + i)));
    _mm256_storeu_ps(acc + i, _mm256_add_ps(_mm256_loadu_ps(acc + i), _mm256_mul_ps(va, vv)));
  }
  for (; i < n; ++i) acc[i] += a * _cvtsh_ss(v[i]);
}

void f32_to_f16_avx2(const float* x, f16_bits* out, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
  }
  for (; i < n; ++i) out[i] = static_cast<f16_bits>(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

void round_to_f16_avx2(const float* x, float* out, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) out[i] = _cvtsh_ss(static_cast<unsigned short>(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT)));
}

}  // namespace

void fill_avx2_vec(KernelTable& table) {
  table.rms_norm = rms_norm_avx2;
  table.layer_norm = layer_norm_avx2;
  table.softmax = softmax_avx2;
  table.silu = silu_avx2;
  table.gelu = gelu_avx2;
  table.gelu_erf = gelu_erf_avx2;
  table.swiglu = swiglu_avx2;
  table.add = add_avx2;
  table.mul = mul_avx2;
  table.scale = scale_avx2;
  table.rope_rotate = rope_rotate_avx2;
  table.dot_f16 = dot_f16_avx2;
  table.axpy_f16 = axpy_f16_avx2;
  table.f32_to_f16 = f32_to_f16_avx2;
  table.round_to_f16 = round_to_f16_avx2;
}

}  // namespace qrag::kernels
