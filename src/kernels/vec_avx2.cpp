// AVX2+FMA+F16C vector ops: norms, softmax, SiLU/GELU/SwiGLU, element-wise ops and F16 cache rows.
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

// Multiply and add stay separate (no FMA) to match axpy_f16_ref bit for bit.
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

}  // namespace

void fill_avx2_vec(KernelTable& table) {
  table.rms_norm = rms_norm_avx2;
  table.softmax = softmax_avx2;
  table.silu = silu_avx2;
  table.gelu = gelu_avx2;
  table.swiglu = swiglu_avx2;
  table.add = add_avx2;
  table.mul = mul_avx2;
  table.scale = scale_avx2;
  table.dot_f16 = dot_f16_avx2;
  table.axpy_f16 = axpy_f16_avx2;
  table.f32_to_f16 = f32_to_f16_avx2;
  // layer_norm and gelu_erf keep their scalar versions (encoders only, not on the decode path).
}

}  // namespace qrag::kernels
