// AVX-512 attention for a chunk of query heads that share one kv head, queries or keys in the vector lanes.
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

// Scratch layout of one chunk, in floats, each part 64-byte aligned.
//   qt     [head_dim][16]: the queries transposed, lane i for query i of the chunk.
//   key    [4][head_dim]: four key rows widened to F32.
//   probs  scores, then softmax numerators. The entry of key j and query lane i is
//          probs[(j - first) * key_stride + i * lane_stride]: [n_keys][16] with the
//          queries in lanes, [n_q][n_keys rounded up to 16] with the keys in lanes.
struct ChunkScratch {
  float* qt;
  float* key;
  float* probs;
  std::int64_t key_stride;
  std::int64_t lane_stride;
};

// Returns the lanes i (within `used`) for which key j is visible: lo[i] <= j < hi[i].
inline __mmask16 visible_lanes(__m512i lo, __m512i hi, std::int64_t j, __mmask16 used) {
  const __m512i jj = _mm512_set1_epi32(static_cast<int>(j));
  return _mm512_mask_cmple_epi32_mask(used, lo, jj) & _mm512_cmplt_epi32_mask(jj, hi);
}

// Scores of kKeys consecutive keys from j, two accumulators (even and odd d) per key.
template <int kKeys>
inline void score_keys(const AttendChunkArgs& a, const ChunkScratch& s, std::int64_t j, __m512 (&score)[kKeys]) {
  for (int k = 0; k < kKeys; ++k) {
    const f16_bits* row = a.k + (j + k) * a.kv_row;
    for (int d = 0; d < a.head_dim; d += 16) _mm512_store_ps(s.key + k * a.head_dim + d, load_f16(row + d));
  }
  __m512 even[kKeys];
  __m512 odd[kKeys];
  for (int k = 0; k < kKeys; ++k) {
    even[k] = _mm512_setzero_ps();
    odd[k] = _mm512_setzero_ps();
  }
  for (int d = 0; d < a.head_dim; d += 2) {
    const __m512 q_even = _mm512_load_ps(s.qt + d * 16);
    const __m512 q_odd = _mm512_load_ps(s.qt + (d + 1) * 16);
    for (int k = 0; k < kKeys; ++k) {
      even[k] = _mm512_fmadd_ps(q_even, _mm512_set1_ps(s.key[k * a.head_dim + d]), even[k]);
      odd[k] = _mm512_fmadd_ps(q_odd, _mm512_set1_ps(s.key[k * a.head_dim + d + 1]), odd[k]);
    }
  }
  for (int k = 0; k < kKeys; ++k) score[k] = _mm512_mul_ps(_mm512_set1_ps(a.scale), _mm512_add_ps(even[k], odd[k]));
}

// probs[j - first][i] = scale * q_i . k_j (or -inf where lane i does not see key j),
// for keys [first, last). Keys go four at a time, so that eight independent FMA chains
// hide the FMA latency. Every lane accumulates each key over d in the same fixed
// order, so a query's scores do not depend on the other queries of its chunk.
void scores_pass(const AttendChunkArgs& a, const ChunkScratch& s, __m512i lo, __m512i hi, __mmask16 used,
                 std::int64_t first, std::int64_t last) {
  const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
  const auto store = [&](std::int64_t j, __m512 score) {
    __mmask16 see = visible_lanes(lo, hi, j, used);
    if (a.kv_mask != nullptr && a.kv_mask[j] == 0) see = 0;
    _mm512_store_ps(s.probs + (j - first) * 16, _mm512_mask_mov_ps(neg_inf, see, score));
  };
  std::int64_t j = first;
  for (; j + 4 <= last; j += 4) {
    __m512 score[4];
    score_keys<4>(a, s, j, score);
    for (int k = 0; k < 4; ++k) store(j + k, score[k]);
  }
  for (; j < last; ++j) {
    __m512 score[1];
    score_keys<1>(a, s, j, score);
    store(j, score[0]);
  }
}

// Transposes 16 rows of 16 floats in place, so that row j becomes what column j was.
inline void transpose16(__m512 (&m)[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(m[i], m[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(m[i], m[i + 1]);
  }
  // u[4g + c] lane L: rows 4g .. 4g + 3 of column 4L + c.
  __m512 u[16];
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xee);
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xee);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512 even_lo = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
    const __m512 even_hi = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
    const __m512 odd_lo = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xdd);
    const __m512 odd_hi = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xdd);
    m[c] = _mm512_shuffle_f32x4(even_lo, even_hi, 0x88);
    m[8 + c] = _mm512_shuffle_f32x4(even_lo, even_hi, 0xdd);
    m[4 + c] = _mm512_shuffle_f32x4(odd_lo, odd_hi, 0x88);
    m[12 + c] = _mm512_shuffle_f32x4(odd_lo, odd_hi, 0xdd);
  }
}

// The scores pass with keys in the lanes instead of queries, for chunks of few
// queries (one decoded token). Each (query, key) score goes through the same FMA
// sequence as in scores_pass (even and odd d in order, then scale * (even + odd)),
// so both passes store identical bits and a chunk may take either.
void scores_pass_keys(const AttendChunkArgs& a, const ChunkScratch& s, int n_q, std::int64_t first,
                      std::int64_t last) {
  const __m512i lane_index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (std::int64_t j0 = first; j0 < last; j0 += 16) {
    const std::int64_t n_keys = last - j0 < 16 ? last - j0 : 16;
    const auto in_range = static_cast<__mmask16>((1u << static_cast<unsigned>(n_keys)) - 1u);
    __m512 even[4];
    __m512 odd[4];
    for (int r = 0; r < n_q; ++r) {
      even[r] = _mm512_setzero_ps();
      odd[r] = _mm512_setzero_ps();
    }
    for (int c = 0; c < a.head_dim; c += 16) {
      __m512 kt[16];  // rows: keys j0 .. j0 + 15, then after the transpose, dims c .. c + 15
      for (int k = 0; k < 16; ++k) kt[k] = k < n_keys ? load_f16(a.k + (j0 + k) * a.kv_row + c) : _mm512_setzero_ps();
      transpose16(kt);
      for (int r = 0; r < n_q; ++r) {
        const float* q = s.qt + r;  // q_r[d] = qt[d * 16 + r]
        for (int d = 0; d < 16; d += 2) {
          even[r] = _mm512_fmadd_ps(_mm512_set1_ps(q[(c + d) * 16]), kt[d], even[r]);
          odd[r] = _mm512_fmadd_ps(_mm512_set1_ps(q[(c + d + 1) * 16]), kt[d + 1], odd[r]);
        }
      }
    }
    const __m512i keys = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(j0)), lane_index);
    __mmask16 unmasked = in_range;
    if (a.kv_mask != nullptr) {
      unmasked &= _mm_mask_cmpneq_epi8_mask(in_range, _mm_maskz_loadu_epi8(in_range, a.kv_mask + j0),
                                            _mm_setzero_si128());
    }
    for (int r = 0; r < n_q; ++r) {
      const int t = r / a.group;
      const __mmask16 see = unmasked &
                            _mm512_cmpge_epi32_mask(keys, _mm512_set1_epi32(static_cast<int>(a.lo[t]))) &
                            _mm512_cmplt_epi32_mask(keys, _mm512_set1_epi32(static_cast<int>(a.hi[t])));
      const __m512 score = _mm512_mul_ps(_mm512_set1_ps(a.scale), _mm512_add_ps(even[r], odd[r]));
      _mm512_store_ps(s.probs + r * s.lane_stride + (j0 - first),
                      _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), see, score));
    }
  }
}

// Runs softmax_pass for the key-lane layout: per query row the same exp of the same
// difference and the same sum in key order, so the bits equal softmax_pass's.
void softmax_rows(const ChunkScratch& s, int n_q, std::int64_t n_keys, float* inv) {
  for (int r = 0; r < n_q; ++r) {
    float* row = s.probs + r * s.lane_stride;
    __m512 max_vec = _mm512_set1_ps(-INFINITY);
    for (std::int64_t j = 0; j < n_keys; j += 16) {
      const auto mask = static_cast<__mmask16>(n_keys - j >= 16 ? 0xffff : (1u << (n_keys - j)) - 1u);
      max_vec = _mm512_max_ps(max_vec, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), mask, row + j));
    }
    const float max = _mm512_reduce_max_ps(max_vec);
    const bool any = max != -INFINITY;
    const __m512 shift = _mm512_set1_ps(any ? max : 0.0f);
    for (std::int64_t j = 0; j < n_keys; j += 16) {
      _mm512_store_ps(row + j, exp_nonpositive(_mm512_sub_ps(_mm512_load_ps(row + j), shift)));
    }
    float sum = 0.0f;
    for (std::int64_t j = 0; j < n_keys; ++j) sum += row[j];
    inv[r] = any ? 1.0f / sum : 0.0f;
  }
}

// Replaces the scores with softmax numerators and returns 1 / sum per lane (0 for a
// lane with no visible key).
// Lanes add their terms in key order; the zeros of hidden keys leave a sum unchanged.
__m512 softmax_pass(const ChunkScratch& s, std::int64_t n_keys) {
  __m512 max = _mm512_set1_ps(-INFINITY);
  for (std::int64_t j = 0; j < n_keys; ++j) max = _mm512_max_ps(max, _mm512_load_ps(s.probs + j * 16));
  const __mmask16 any = _mm512_cmp_ps_mask(max, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
  const __m512 shift = _mm512_maskz_mov_ps(any, max);  // 0 where no key is visible, to avoid inf - inf
  __m512 sum = _mm512_setzero_ps();
  for (std::int64_t j = 0; j < n_keys; ++j) {
    const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_load_ps(s.probs + j * 16), shift));
    _mm512_store_ps(s.probs + j * 16, e);
    sum = _mm512_add_ps(sum, e);
  }
  return _mm512_maskz_div_ps(any, _mm512_set1_ps(1.0f), sum);
}

// out = sum_j p_j v_j / sum for NQ query heads of one token, lanes lane0 .. lane0 + NQ - 1,
// over that token's keys [lo, hi). D: 16-float chunks per head (head_dim = 16 D).
template <int D, int NQ>
void values_pass(const AttendChunkArgs& a, const ChunkScratch& s, std::int64_t first, int lane0, std::int64_t lo,
                 std::int64_t hi, const float* inv, float* out) {
  __m512 acc[NQ][D];
  for (int r = 0; r < NQ; ++r)
    for (int c = 0; c < D; ++c) acc[r][c] = _mm512_setzero_ps();
  for (std::int64_t j = lo; j < hi; ++j) {
    const f16_bits* vj = a.v + j * a.kv_row;
    const float* p = s.probs + (j - first) * s.key_stride + lane0 * s.lane_stride;
    for (int c = 0; c < D; ++c) {
      const __m512 vc = load_f16(vj + 16 * c);
      for (int r = 0; r < NQ; ++r) acc[r][c] = _mm512_fmadd_ps(_mm512_set1_ps(p[r * s.lane_stride]), vc, acc[r][c]);
    }
  }
  for (int r = 0; r < NQ; ++r) {
    const __m512 scale = _mm512_set1_ps(inv[lane0 + r]);
    for (int c = 0; c < D; ++c) _mm512_storeu_ps(out + r * 16 * D + 16 * c, _mm512_mul_ps(acc[r][c], scale));
  }
}

// The values pass for the last `left` (< the tile size) heads of a token: one tile of
// exactly `left` heads, so the V rows are widened once for all of them.
template <int D, int NQ>
void values_pass_left(const AttendChunkArgs& a, const ChunkScratch& s, std::int64_t first, int lane0, std::int64_t lo,
                      std::int64_t hi, const float* inv, float* out, int left) {
  if constexpr (NQ >= 1) {
    if (left == NQ) {
      values_pass<D, NQ>(a, s, first, lane0, lo, hi, inv, out);
    } else {
      values_pass_left<D, NQ - 1>(a, s, first, lane0, lo, hi, inv, out, left);
    }
  }
}

// The values pass of every token of the chunk, its heads in tiles of at most 16 / D
// (the accumulators and broadcasts stay within the 32 registers).
template <int D>
void values_pass_chunk(const AttendChunkArgs& a, const ChunkScratch& s, std::int64_t first, const float* inv) {
  constexpr int kMaxQ = D >= 16 ? 1 : 16 / D;
  const std::int64_t head = 16 * D;
  for (int t = 0; t < a.n_tokens; ++t) {
    const std::int64_t lo = a.lo[t];
    const std::int64_t hi = a.hi[t];
    float* out = a.out + t * a.out_stride;
    int r = 0;
    for (; r + kMaxQ <= a.group; r += kMaxQ) {
      values_pass<D, kMaxQ>(a, s, first, t * a.group + r, lo, hi, inv, out + r * head);
    }
    if (r < a.group) {
      values_pass_left<D, kMaxQ - 1>(a, s, first, t * a.group + r, lo, hi, inv, out + r * head, a.group - r);
    }
  }
}

float* align64(float* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  return reinterpret_cast<float*>((address + 63) & ~static_cast<std::uintptr_t>(63));
}

bool attend_chunk_avx512(const AttendChunkArgs& a) {
  const int n_q = a.n_tokens * a.group;
  if (a.head_dim % 16 != 0 || a.head_dim > 256 || n_q > 16 || n_q <= 0) return false;
  const int d_chunks = a.head_dim / 16;
  if (d_chunks != 2 && d_chunks != 4 && d_chunks != 5 && d_chunks != 6 && d_chunks != 8 && d_chunks != 16) {
    return false;
  }

  ChunkScratch s{};
  s.qt = align64(a.scratch);
  s.key = s.qt + a.head_dim * 16;
  // Lane i = query head i % group of token i / group. Unused lanes have no visible key.
  alignas(64) int lo_lanes[16] = {};
  alignas(64) int hi_lanes[16] = {};
  std::int64_t first = a.lo[0];
  std::int64_t last = a.hi[0];
  for (int t = 0; t < a.n_tokens; ++t) {
    first = a.lo[t] < first ? a.lo[t] : first;
    last = a.hi[t] > last ? a.hi[t] : last;
    for (int r = 0; r < a.group; ++r) {
      lo_lanes[t * a.group + r] = static_cast<int>(a.lo[t]);
      hi_lanes[t * a.group + r] = static_cast<int>(a.hi[t]);
    }
  }
  s.probs = align64(s.key + 4 * a.head_dim);
  for (int d = 0; d < a.head_dim; ++d) {
    for (int i = 0; i < 16; ++i) {
      const int t = i / a.group;
      const int r = i % a.group;
      s.qt[d * 16 + i] = i < n_q ? a.q[t * a.q_stride + r * a.head_dim + d] : 0.0f;
    }
  }
  const __mmask16 used = static_cast<__mmask16>((1u << static_cast<unsigned>(n_q)) - 1u);
  alignas(64) float inv[16];
  // Few queries fill few lanes, so one decoded token puts the keys in the lanes.
  if (n_q <= 4) {
    s.key_stride = 1;
    s.lane_stride = (last - first + 15) / 16 * 16;
    scores_pass_keys(a, s, n_q, first, last);
    softmax_rows(s, n_q, last - first, inv);
  } else {
    s.key_stride = 16;
    s.lane_stride = 1;
    scores_pass(a, s, _mm512_load_si512(lo_lanes), _mm512_load_si512(hi_lanes), used, first, last);
    _mm512_store_ps(inv, softmax_pass(s, last - first));
  }
  switch (d_chunks) {
    case 2: values_pass_chunk<2>(a, s, first, inv); break;
    case 4: values_pass_chunk<4>(a, s, first, inv); break;
    case 5: values_pass_chunk<5>(a, s, first, inv); break;
    case 6: values_pass_chunk<6>(a, s, first, inv); break;
    case 8: values_pass_chunk<8>(a, s, first, inv); break;
    default: values_pass_chunk<16>(a, s, first, inv); break;
  }
  return true;
}

}  // namespace

void fill_avx512_attention(KernelTable& table) { table.attend_chunk = attend_chunk_avx512; }

}  // namespace qrag::kernels
