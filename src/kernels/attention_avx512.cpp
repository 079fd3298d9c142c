// AVX-512 attention tile: all query heads of one kv head in registers, a vector exp, one pass per phase.
// GCC 12 reports the deliberately undefined vectors inside its own AVX-512
// intrinsics (_mm512_reduce_add_ps, _mm512_cvtph_ps) as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "kernels/dispatch.h"

namespace qrag::kernels {
namespace {

// exp(x) for x <= 0 (x = -inf gives 0). x = n ln2 + r with n = round(x / ln2) and
// |r| <= ln2 / 2. exp(r) comes from its Taylor series to degree 7, whose truncation
// error r^8 / 8! is below 1e-8, and is then scaled by 2^n. Arguments below -87, where
// exp falls under the smallest normal float, give 0.
inline __m512 exp_nonpositive(__m512 x) {
  const __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_GE_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // ln2 split into a head with few mantissa bits (n * head is exact) and a tail.
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.4286068203094173e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(live, p, n);
}

inline __m512 load_f16(const f16_bits* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

inline __mmask16 head_mask(std::int64_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xffff)
                     : static_cast<__mmask16>((1u << static_cast<unsigned>(count)) - 1u);
}

// Scores of NQ query heads against keys [lo, hi): scores[r][j - lo]. Returns the
// per-head maxima in max[r]. D: 16-float chunks per head (head_dim = 16 D).
template <int D, int NQ>
void scores_pass(const AttendArgs& a, const float* q, float* scores, float (&max)[NQ]) {
  const std::int64_t n = a.hi - a.lo;
  __m512 qv[NQ][D];  // scale applies to the sums, as in the reference
  for (int r = 0; r < NQ; ++r)
    for (int c = 0; c < D; ++c) qv[r][c] = _mm512_loadu_ps(q + r * 16 * D + 16 * c);
  for (int r = 0; r < NQ; ++r) max[r] = -INFINITY;
  for (std::int64_t j = a.lo; j < a.hi; ++j) {
    if (a.kv_mask != nullptr && a.kv_mask[j] == 0) {
      for (int r = 0; r < NQ; ++r) scores[r * n + (j - a.lo)] = -INFINITY;
      continue;
    }
    const f16_bits* kj = a.k + j * a.kv_row;
    __m512 acc[NQ];
    const __m512 k0 = load_f16(kj);
    for (int r = 0; r < NQ; ++r) acc[r] = _mm512_mul_ps(k0, qv[r][0]);
    for (int c = 1; c < D; ++c) {
      const __m512 kc = load_f16(kj + 16 * c);
      for (int r = 0; r < NQ; ++r) acc[r] = _mm512_fmadd_ps(kc, qv[r][c], acc[r]);
    }
    for (int r = 0; r < NQ; ++r) {
      const float s = a.scale * _mm512_reduce_add_ps(acc[r]);
      scores[r * n + (j - a.lo)] = s;
      max[r] = s > max[r] ? s : max[r];
    }
  }
}

// scores[j] = exp(scores[j] - max) over n entries; returns their sum.
inline float exp_pass(float* scores, std::int64_t n, float max) {
  const __m512 vmax = _mm512_set1_ps(max);
  __m512 sum = _mm512_setzero_ps();
  for (std::int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = head_mask(n - i);
    const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, scores + i), vmax));
    _mm512_mask_storeu_ps(scores + i, mask, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(mask, e));
  }
  return _mm512_reduce_add_ps(sum);
}

template <int D, int NQ>
void attend_tile(const AttendArgs& a, const float* q, float* out) {
  const std::int64_t n = a.hi - a.lo;
  float max[NQ];
  scores_pass<D, NQ>(a, q, a.scores, max);
  float inv[NQ];
  for (int r = 0; r < NQ; ++r) {
    if (max[r] == -INFINITY) {  // no visible key: exp_pass would produce NaN
      inv[r] = 0.0f;
      for (std::int64_t i = 0; i < n; ++i) a.scores[r * n + i] = 0.0f;
      continue;
    }
    inv[r] = 1.0f / exp_pass(a.scores + r * n, n, max[r]);
  }
  __m512 acc[NQ][D];
  for (int r = 0; r < NQ; ++r)
    for (int c = 0; c < D; ++c) acc[r][c] = _mm512_setzero_ps();
  for (std::int64_t j = 0; j < n; ++j) {
    const f16_bits* vj = a.v + (a.lo + j) * a.kv_row;
    __m512 p[NQ];
    for (int r = 0; r < NQ; ++r) p[r] = _mm512_set1_ps(a.scores[r * n + j]);
    for (int c = 0; c < D; ++c) {
      const __m512 vc = load_f16(vj + 16 * c);
      for (int r = 0; r < NQ; ++r) acc[r][c] = _mm512_fmadd_ps(p[r], vc, acc[r][c]);
    }
  }
  for (int r = 0; r < NQ; ++r) {
    const __m512 s = _mm512_set1_ps(inv[r]);
    for (int c = 0; c < D; ++c) _mm512_storeu_ps(out + r * 16 * D + 16 * c, _mm512_mul_ps(acc[r][c], s));
  }
}

// Runs the query heads in tiles of at most 16 / D heads, so the accumulators
// (NQ x D vectors) and the broadcast weights stay within the 32 registers.
template <int D>
void attend_heads(const AttendArgs& a) {
  constexpr int kMaxQ = D >= 16 ? 1 : 16 / D;
  const std::int64_t head = 16 * D;
  int r = 0;
  for (; r + kMaxQ <= a.n_q; r += kMaxQ) attend_tile<D, kMaxQ>(a, a.q + r * head, a.out + r * head);
  const int left = a.n_q - r;
  if constexpr (kMaxQ > 1) {
    if (left > 0) {
      if constexpr (kMaxQ >= 4) {
        if (left == 3) return attend_tile<D, 3>(a, a.q + r * head, a.out + r * head);
      }
      if constexpr (kMaxQ >= 3) {
        if (left == 2) return attend_tile<D, 2>(a, a.q + r * head, a.out + r * head);
      }
      for (; r < a.n_q; ++r) attend_tile<D, 1>(a, a.q + r * head, a.out + r * head);
    }
  }
}

bool attend_avx512(const AttendArgs& a) {
  if (a.head_dim % 16 != 0) return false;
  switch (a.head_dim / 16) {
    case 2: attend_heads<2>(a); return true;
    case 4: attend_heads<4>(a); return true;
    case 5: attend_heads<5>(a); return true;
    case 6: attend_heads<6>(a); return true;
    case 8: attend_heads<8>(a); return true;
    case 16: attend_heads<16>(a); return true;
    default: return false;
  }
}

}  // namespace

void fill_avx512_attention(KernelTable& table) { table.attend = attend_avx512; }

}  // namespace qrag::kernels
