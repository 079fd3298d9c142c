// K-quant super-block decoders and the tile shared by the AVX2 and AVX-512 K-quant matmuls.
#pragma once

// Include only from *_avx2.cpp / *_avx512.cpp files: everything here sits in an
// anonymous namespace, so each file gets its own copy compiled for its ISA.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/tiles.h"
#include "tensor/blocks.h"

namespace qrag::kernels {
namespace {

using tensor::block_q2_K;
using tensor::block_q3_K;
using tensor::block_q4_K;
using tensor::block_q5_K;
using tensor::block_q6_K;
using tensor::block_q8_K;

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

inline float fp16_to_float(tensor::f16_bits bits) {
  return _cvtsh_ss(bits);
}

// A weight super-block decoded for reuse across activation rows.
struct DecodedBlock {
  __m256i q[8];      // [8 groups][32 x u8]: codes of elements 32g .. 32g+31
  __m256i scale[8];  // [8 groups][16 x i16]: lanes 0-7 weight the group's first 16 elements, 8-15 the rest
  __m256i min;       // [16 x i16]: min of each 16-element sub-block in units of dmin (types with kMin only)
  float d;
  float dmin;  // types with kMin only
};

// Fills the int16 multipliers of the 8 groups from 16 signed bytes, byte j being the
// scale of elements 16j .. 16j+15. Group g gets byte 2g in lanes 0-7 and byte 2g+1
// in lanes 8-15, the lane order of _mm256_maddubs_epi16 results.
inline void expand_scales(__m128i sub_scales, __m256i scale[8]) {
  const __m256i both = _mm256_broadcastsi128_si256(sub_scales);
  // The shuffle puts the scale byte into the high byte of each int16 (index 0x80 writes
  // a zero low byte), so that the arithmetic shift by 8 sign-extends it. Adding 2 per
  // group keeps the 0x80 indices negative.
  __m256i control = _mm256_set_m128i(_mm_set1_epi16(0x0180), _mm_set1_epi16(0x0080));
  const __m256i step = _mm256_set1_epi16(0x0202);
  for (int g = 0; g < 8; ++g) {
    scale[g] = _mm256_srai_epi16(_mm256_shuffle_epi8(both, control), 8);
    control = _mm256_add_epi8(control, step);
  }
}

// Q4_K and Q5_K: the 6-bit scales and mins of the 8 sub-blocks of 32 in 12 bytes.
// Bytes 0-3 are the scales of sub-blocks 0-3 and bytes 4-7 their mins. Bytes 8-11
// contain the low nibbles of sub-blocks 4-7 (scale low, min high), whose top 2 bits
// sit in bits 6-7 of bytes 0-3 (scales) and 4-7 (mins). Each value is stored twice
// in `out`, once per 16-element half.
inline void unpack_k4_scales(const std::uint8_t* packed, DecodedBlock& out) {
  std::uint32_t word[3];
  std::memcpy(word, packed, sizeof(word));
  constexpr std::uint32_t kLow6 = 0x3f3f3f3f;
  constexpr std::uint32_t kLow4 = 0x0f0f0f0f;
  constexpr std::uint32_t kLow2 = 0x03030303;
  const std::uint32_t scales_0_3 = word[0] & kLow6;
  const std::uint32_t mins_0_3 = word[1] & kLow6;
  const std::uint32_t scales_4_7 = (word[2] & kLow4) | (((word[0] >> 6) & kLow2) << 4);
  const std::uint32_t mins_4_7 = ((word[2] >> 4) & kLow4) | (((word[1] >> 6) & kLow2) << 4);
  // Bytes 0-7 are the scales of sub-blocks 0-7 and bytes 8-15 their mins.
  const __m128i values = _mm_setr_epi32(static_cast<int>(scales_0_3), static_cast<int>(scales_4_7),
                                        static_cast<int>(mins_0_3), static_cast<int>(mins_4_7));
  expand_scales(_mm_unpacklo_epi8(values, values), out.scale);
  out.min = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(values, values));
}

// Q4_K and Q5_K: groups 2h and 2h+1 are the low and high nibbles of qs[32h .. 32h+31].
inline void unpack_4bit_codes(const std::uint8_t* qs, __m256i q[8]) {
  const __m256i mask = _mm256_set1_epi8(0x0f);
  for (int h = 0; h < 4; ++h) {
    const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * h));
    q[2 * h] = _mm256_and_si256(bytes, mask);
    q[2 * h + 1] = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
  }
}

// Q2_K and Q3_K: the 2 low bits of element 128h + 32k + l sit at bit 2k of
// qs[32h + l], so group 4h + k is one shift of the 32 bytes at qs + 32h.
inline void unpack_2bit_codes(const std::uint8_t* qs, __m256i q[8]) {
  const __m256i mask = _mm256_set1_epi8(0x03);
  for (int h = 0; h < 2; ++h) {
    const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * h));
    for (int k = 0; k < 4; ++k) q[4 * h + k] = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * k), mask);
  }
}

// Q3_K and Q5_K: bit g of bits[l] is the high bit of element 32g + l. Sets bit
// `position` of the group-g codes to it. The 16-bit shifts move each byte's bit g
// to bit `position` of the same byte, and the mask drops what crossed bytes.
inline void add_high_bits(const std::uint8_t* bits, int position, __m256i q[8]) {
  const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bits));
  const __m256i mask = _mm256_set1_epi8(static_cast<char>(1 << position));
  for (int g = 0; g < 8; ++g) {
    const __m256i moved =
        g >= position ? _mm256_srli_epi16(bytes, g - position) : _mm256_slli_epi16(bytes, position - g);
    q[g] = _mm256_or_si256(q[g], _mm256_and_si256(moved, mask));
  }
}

// Q3_K: 16 scales of 6 bits, stored with a +32 bias. Bytes 0-7 contain the low nibbles
// (sub-blocks 0-7 in the low nibble, 8-15 in the high nibble), and bits 2s, 2s+1 of
// byte 8 + r are the top 2 bits of sub-block 4s + r. Returns the 16 signed scales.
inline __m128i unpack_q3_k_scales(const std::uint8_t* packed) {
  std::uint64_t low;
  std::uint32_t top;
  std::memcpy(&low, packed, sizeof(low));
  std::memcpy(&top, packed + 8, sizeof(top));
  constexpr std::uint64_t kLow4 = 0x0f0f0f0f0f0f0f0f;
  const __m128i nibbles =
      _mm_set_epi64x(static_cast<long long>((low >> 4) & kLow4), static_cast<long long>(low & kLow4));
  // Dword s is `top` shifted right by 2s, so its byte r contains the top bits of sub-block 4s + r.
  const __m128i top_bits = _mm_and_si128(
      _mm_srlv_epi32(_mm_set1_epi32(static_cast<int>(top)), _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(3));
  return _mm_sub_epi8(_mm_or_si128(nibbles, _mm_slli_epi16(top_bits, 4)), _mm_set1_epi8(32));
}

// Each weight type's decode fills a DecodedBlock such that
//   w = d * scale * (q - kOffset) - dmin * min   (the min term only when kMin).

// Q2_K: w = d * sc_j * q - dmin * m_j for sub-block j of 16 elements, q in [0, 3].
// Byte scales[j] contains sc_j in its low nibble and m_j in its high nibble.
struct Q2K {
  using Block = block_q2_K;
  static constexpr bool kMin = true;
  static constexpr int kOffset = 0;
  static void decode(const Block& b, DecodedBlock& out) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
    const __m128i nibble = _mm_set1_epi8(0x0f);
    expand_scales(_mm_and_si128(packed, nibble), out.scale);
    out.min = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), nibble));
    unpack_2bit_codes(b.qs, out.q);
    out.d = fp16_to_float(b.d);
    out.dmin = fp16_to_float(b.dmin);
  }
};

// Q3_K: w = d * sc_j * (q - 4) for sub-block j of 16 elements, q in [0, 7], with the
// 2 low bits from qs and bit 2 from hmask (a clear hmask bit means the level is low - 4).
// The offset enters as the min 4 * sc_j with dmin = d: one multiply of the bsums per
// super-block costs less than subtracting 4 * x in every group, as Q6_K does.
struct Q3K {
  using Block = block_q3_K;
  static constexpr bool kMin = true;
  static constexpr int kOffset = 0;
  static void decode(const Block& b, DecodedBlock& out) {
    const __m128i scales = unpack_q3_k_scales(b.scales);
    expand_scales(scales, out.scale);
    out.min = _mm256_slli_epi16(_mm256_cvtepi8_epi16(scales), 2);
    unpack_2bit_codes(b.qs, out.q);
    add_high_bits(b.hmask, 2, out.q);
    out.d = fp16_to_float(b.d);
    out.dmin = out.d;
  }
};

// Q4_K: w = d * sc_j * q - dmin * m_j for sub-block j of 32 elements, q in [0, 15].
struct Q4K {
  using Block = block_q4_K;
  static constexpr bool kMin = true;
  static constexpr int kOffset = 0;
  static void decode(const Block& b, DecodedBlock& out) {
    unpack_k4_scales(b.scales, out);
    unpack_4bit_codes(b.qs, out.q);
    out.d = fp16_to_float(b.d);
    out.dmin = fp16_to_float(b.dmin);
  }
};

// Q5_K: as Q4_K with q in [0, 31], whose bit 4 for element 32j + l is bit j of qh[l].
struct Q5K {
  using Block = block_q5_K;
  static constexpr bool kMin = true;
  static constexpr int kOffset = 0;
  static void decode(const Block& b, DecodedBlock& out) {
    unpack_k4_scales(b.scales, out);
    unpack_4bit_codes(b.qs, out.q);
    add_high_bits(b.qh, 4, out.q);
    out.d = fp16_to_float(b.d);
    out.dmin = fp16_to_float(b.dmin);
  }
};

// Q6_K: w = d * sc_j * (q - 32) for sub-block j of 16 elements, q in [0, 63].
// Element 128h + 32k + l has its low 4 bits in ql[64h + 32(k%2) + l] (high nibble
// for k >= 2) and its top 2 bits at bit 2k of qh[32h + l].
struct Q6K {
  using Block = block_q6_K;
  static constexpr bool kMin = false;
  static constexpr int kOffset = 32;
  static void decode(const Block& b, DecodedBlock& out) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f);
    const __m256i mask2 = _mm256_set1_epi8(0x03);
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h));
      const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
      const __m256i low[4] = {_mm256_and_si256(ql0, mask4), _mm256_and_si256(ql1, mask4),
                              _mm256_and_si256(_mm256_srli_epi16(ql0, 4), mask4),
                              _mm256_and_si256(_mm256_srli_epi16(ql1, 4), mask4)};
      for (int k = 0; k < 4; ++k) {
        const __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), mask2);
        out.q[4 * h + k] = _mm256_or_si256(low[k], _mm256_slli_epi16(high, 4));
      }
    }
    expand_scales(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)), out.scale);
    out.d = fp16_to_float(b.d);
    out.dmin = 0.0f;
  }
};

// Exact integer dot of one decoded super-block with one Q8_K block, as 8 int32
// lanes: sum over groups of scale * sum((q - kOffset) * x).
struct Avx2Dot {
  using Prepared = const DecodedBlock&;
  static Prepared prepare(const DecodedBlock& w) { return w; }

  template <class W>
  static __m256i run(const DecodedBlock& w, const block_q8_K& x) {
    __m256i acc = _mm256_setzero_si256();
    for (int g = 0; g < 8; ++g) {
      const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * g));
      __m256i prod = _mm256_maddubs_epi16(w.q[g], xq);  // q <= 63 and |x| <= 127: no int16 saturation
      if constexpr (W::kOffset != 0) {
        prod = _mm256_sub_epi16(prod, _mm256_maddubs_epi16(_mm256_set1_epi8(W::kOffset), xq));
      }
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(prod, w.scale[g]));
    }
    return acc;
  }
};

// One weight row at a time (a decoded super-block fills most registers), B
// activation rows per decode. Per super-block: fma(d * d_x, isum) in 8 lanes, and
// for types with a min the term dmin * d_x * sum_j min_j * bsums_j in a scalar.
// The accumulations are explicit fmas, so that every B rounds the same way.
// Dot computes the exact integer lanes (Dot::run<W>) from the decoded block after
// Dot::prepare, which may rearrange it once for all B activation rows. Every Dot
// returns the same integers, so the ISA levels give the same bits.
template <class W, class Dot>
struct KQuantTile {
  template <int R, int B>
  static void run(const Tile& t) {
    static_assert(R == 1, "K-quant tiles decode one weight row at a time");
    __m256 acc[B];
    float acc_min[B];
    for (int b = 0; b < B; ++b) {
      acc[b] = _mm256_setzero_ps();
      acc_min[b] = 0.0f;
    }
    const std::int64_t nb = t.k / 256;
    const auto* row = reinterpret_cast<const typename W::Block*>(t.w);
    DecodedBlock w;
    for (std::int64_t ib = 0; ib < nb; ++ib) {
      W::decode(row[ib], w);
      const typename Dot::Prepared prepared = Dot::prepare(w);
      for (int b = 0; b < B; ++b) {
        const block_q8_K& x = reinterpret_cast<const block_q8_K*>(t.x + b * t.x_stride)[ib];
        const __m256i isum = Dot::template run<W>(prepared, x);
        acc[b] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(w.d * x.d), acc[b]);
        if constexpr (W::kMin) {
          // |min| <= 128 (Q3_K's 4 * sc) and |bsums| <= 16 * 127, so |msum| < 2^22 and
          // its conversion to float is exact.
          const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums));
          const int msum = hsum_epi32(_mm256_madd_epi16(bsums, w.min));
          acc_min[b] = __builtin_fmaf(w.dmin * x.d, static_cast<float>(msum), acc_min[b]);
        }
      }
    }
    for (int b = 0; b < B; ++b) t.y[b * t.y_stride] = hsum(acc[b]) - acc_min[b];
  }
};

}  // namespace
}  // namespace qrag::kernels
