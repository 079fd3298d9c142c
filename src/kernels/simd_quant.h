// 256-bit helpers shared by the AVX2 and AVX-512 matmuls: weight block decoders and Q8 quantizers.
#pragma once

// Include only from *_avx2.cpp / *_avx512.cpp files: everything here sits in an
// anonymous namespace, so each file gets its own copy compiled for its ISA.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "tensor/blocks.h"
#include "tensor/quantize.h"

namespace qrag::kernels {
namespace {

using tensor::block_iq4_nl;
using tensor::block_q4_0;
using tensor::block_q4_1;
using tensor::block_q5_0;
using tensor::block_q5_1;
using tensor::block_q8_0;
using tensor::block_q8_1;
using tensor::block_q8_K;

inline float f16_to_f32(std::uint16_t h) { return _cvtsh_ss(h); }

// ---- 32-wide quantized weights -------------------------------------------

// Expands 16 packed bytes to 32: low nibbles first (weights 0..15), then high nibbles.
inline __m256i unpack_nibbles(const std::uint8_t* qs) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(packed, mask);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
  return _mm256_set_m128i(hi, lo);
}

// Byte j = 0x10 where bit j of the 32-bit qh is set, else 0.
inline __m256i high_bits(const std::uint8_t* qh) {
  std::uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

struct Q8_0W {
  using Block = block_q8_0;
  static constexpr bool kUnsigned = false;
  static constexpr bool kMin = false;
  static __m256i values(const Block& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }
  static float min(const Block&) { return 0.0f; }
};

struct Q4_0W {
  using Block = block_q4_0;
  static constexpr bool kUnsigned = false;
  static constexpr bool kMin = false;
  static __m256i values(const Block& b) { return _mm256_sub_epi8(unpack_nibbles(b.qs), _mm256_set1_epi8(8)); }
  static float min(const Block&) { return 0.0f; }
};

struct Q5_0W {
  using Block = block_q5_0;
  static constexpr bool kUnsigned = false;
  static constexpr bool kMin = false;
  static __m256i values(const Block& b) {
    return _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles(b.qs), high_bits(b.qh)), _mm256_set1_epi8(16));
  }
  static float min(const Block&) { return 0.0f; }
};

struct IQ4NLW {
  using Block = block_iq4_nl;
  static constexpr bool kUnsigned = false;
  static constexpr bool kMin = false;
  static __m256i values(const Block& b) {
    // The 16 levels of IQ4_NL, looked up per nibble.
    const __m256i table = _mm256_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89,
                                           113, -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69,
                                           89, 113);
    return _mm256_shuffle_epi8(table, unpack_nibbles(b.qs));
  }
  static float min(const Block&) { return 0.0f; }
};

struct Q4_1W {
  using Block = block_q4_1;
  static constexpr bool kUnsigned = true;
  static constexpr bool kMin = true;
  static __m256i values(const Block& b) { return unpack_nibbles(b.qs); }
  static float min(const Block& b) { return f16_to_f32(b.m); }
};

struct Q5_1W {
  using Block = block_q5_1;
  static constexpr bool kUnsigned = true;
  static constexpr bool kMin = true;
  static __m256i values(const Block& b) { return _mm256_or_si256(unpack_nibbles(b.qs), high_bits(b.qh)); }
  static float min(const Block& b) { return f16_to_f32(b.m); }
};

// Sum of the 32 signed bytes of v.
inline int sum_i8(__m256i v) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), v);
  const __m256i quads = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(quads), _mm256_extracti128_si256(quads, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// ---- activation quantizers (bit-identical to tensor::quantize_row) ---------

// round(v) with ties away from zero, as std::round.
inline __m256 round_away(__m256 v) {
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
  const __m256 frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t));
  const __m256 step = _mm256_or_ps(sign, _mm256_set1_ps(1.0f));
  const __m256 carry = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  return _mm256_add_ps(t, _mm256_and_ps(carry, step));
}

// Quantizes 32 floats with d = amax / 127 and codes round(x / d); returns the F32 d.
inline float quantize_block_32(const float* x, std::int8_t* qs) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_loadu_ps(x + 8 * i);
    amax = _mm256_max_ps(amax, _mm256_and_ps(v[i], abs_mask));
  }
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  const float d = _mm_cvtss_f32(m) / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  __m256i q[4];
  for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(round_away(_mm256_mul_ps(v[i], _mm256_set1_ps(id))));
  // packs interleave the 128-bit lanes; the permute restores element order.
  const __m256i q16 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  const __m256i ordered = _mm256_permutevar8x32_epi32(q16, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), ordered);
  return d;
}

inline void quantize_q8_0_simd(const float* x, void* out, std::int64_t n) {
  auto* y = static_cast<block_q8_0*>(out);
  for (std::int64_t i = 0; i < n / 32; ++i) {
    const float d = quantize_block_32(x + 32 * i, y[i].qs);
    y[i].d = static_cast<std::uint16_t>(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
  }
}

inline void quantize_q8_1_simd(const float* x, void* out, std::int64_t n) {
  auto* y = static_cast<block_q8_1*>(out);
  for (std::int64_t i = 0; i < n / 32; ++i) {
    const float d = quantize_block_32(x + 32 * i, y[i].qs);
    y[i].d = static_cast<std::uint16_t>(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
    const int sum = sum_i8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs)));
    y[i].s = static_cast<std::uint16_t>(_cvtss_sh(static_cast<float>(sum) * d, _MM_FROUND_TO_NEAREST_INT));
  }
}

// Quantizes the 256 floats of one Q8_K block with the reference's bits: max is the
// first value of largest magnitude, iscale = -127 / max, codes min(127, round(iscale
// x)) with ties to even (the reference's magic-number rounding), and d = 1 / iscale.
// Returns false, writing nothing, when the block holds a NaN or an infinity.
inline bool quantize_block_q8_k(const float* x, block_q8_K& y) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 infinity = _mm256_set1_ps(__builtin_inff());
  __m256 amax = _mm256_setzero_ps();
  __m256 bad = _mm256_setzero_ps();  // lanes that saw |x| >= inf or NaN (unordered)
  for (int i = 0; i < 32; ++i) {
    const __m256 magnitude = _mm256_and_ps(_mm256_loadu_ps(x + 8 * i), abs_mask);
    amax = _mm256_max_ps(amax, magnitude);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(magnitude, infinity, _CMP_NLT_UQ));
  }
  if (_mm256_movemask_ps(bad) != 0) return false;

  __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  const float largest = _mm_cvtss_f32(m);
  if (largest == 0.0f) {
    std::memset(&y, 0, sizeof(y));
    return true;
  }

  // The reference keeps the first value whose magnitude is the largest.
  float max = 0.0f;
  for (int i = 0; i < 32; ++i) {
    const __m256 magnitude = _mm256_and_ps(_mm256_loadu_ps(x + 8 * i), abs_mask);
    const int hits = _mm256_movemask_ps(_mm256_cmp_ps(magnitude, _mm256_set1_ps(largest), _CMP_EQ_OQ));
    if (hits != 0) {
      max = x[8 * i + __builtin_ctz(static_cast<unsigned>(hits))];
      break;
    }
  }

  const float iscale = -127.0f / max;
  const __m256 scale = _mm256_set1_ps(iscale);
  const __m256i top = _mm256_set1_epi32(127);
  for (int i = 0; i < 8; ++i) {
    __m256i q[4];
    for (int j = 0; j < 4; ++j) {
      const __m256 v = _mm256_mul_ps(scale, _mm256_loadu_ps(x + 32 * i + 8 * j));
      q[j] = _mm256_min_epi32(_mm256_cvtps_epi32(v), top);  // MXCSR default: ties to even
    }
    // packs interleave the 128-bit lanes; the permute restores element order.
    const __m256i q16 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    const __m256i ordered = _mm256_permutevar8x32_epi32(q16, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y.qs + 32 * i), ordered);
    // bsums of the two 16-code halves: int16 pair sums, then the four int32 of each half.
    const __m256i pairs = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), ordered), _mm256_set1_epi16(1));
    const __m256i halves = _mm256_hadd_epi32(pairs, pairs);  // lanes 0-1: half 0, lanes 4-5: half 1
    const __m256i sums = _mm256_hadd_epi32(halves, halves);
    y.bsums[2 * i] = static_cast<std::int16_t>(_mm256_extract_epi32(sums, 0));
    y.bsums[2 * i + 1] = static_cast<std::int16_t>(_mm256_extract_epi32(sums, 4));
  }
  y.d = 1.0f / iscale;
  return true;
}

// Q8_K activations for the K-quant matmuls. A block with a NaN or an infinity goes
// through tensor::quantize_row, which raises qrag::Error naming the value.
inline void quantize_q8_k_simd(const float* x, void* out, std::int64_t n) {
  auto* y = static_cast<block_q8_K*>(out);
  for (std::int64_t i = 0; i < n / 256; ++i) {
    if (!quantize_block_q8_k(x + 256 * i, y[i])) tensor::quantize_row(tensor::GgmlType::Q8_K, x, out, n);
  }
}

}  // namespace
}  // namespace qrag::kernels
