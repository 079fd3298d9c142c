// AVX2 matmul for the K-quants used by Q4_K_M files (Q4_K, Q6_K) against Q8_K activations.
#include <immintrin.h>

#include <cstring>

#include "kernels/dispatch.h"
#include "kernels/tiles.h"
#include "tensor/blocks.h"

namespace qrag::kernels {
namespace {

using tensor::block_q4_K;
using tensor::block_q6_K;
using tensor::block_q8_K;

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// int16 multipliers: `lo` for the first 16 bytes of a 32-byte group, `hi` for the rest,
// matching the lane order of _mm256_maddubs_epi16 results.
inline __m256i scale_pair(int lo, int hi) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(hi)), _mm_set1_epi16(static_cast<short>(lo)));
}

// A weight super-block decoded for reuse across activation rows: codes of the 8
// groups of 32 elements (unsigned), the int16 multiplier of each group and the
// per-super-block float factors.
struct DecodedBlock {
  __m256i q[8];
  __m256i scale[8];
  float d;
  float dmin;           // Q4_K only
  std::int16_t min[8];  // Q4_K only: 6-bit min of each 32-element sub-block
};

// Q4_K: w = d * sc_j * q - dmin * m_j for sub-block j of 32 elements, q in [0, 15].
// Sub-blocks 2h and 2h+1 share qs[32h .. 32h+31] (low, then high nibbles).
struct Q4K {
  using Block = block_q4_K;
  static constexpr bool kMin = true;
  static void decode(const Block& b, DecodedBlock& out) {
    const std::uint8_t* s = b.scales;
    for (int j = 0; j < 8; ++j) {
      int sc = 0;
      int m = 0;
      if (j < 4) {
        sc = s[j] & 63;
        m = s[j + 4] & 63;
      } else {
        sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
      }
      out.scale[j] = scale_pair(sc, sc);
      out.min[j] = static_cast<std::int16_t>(m);
    }
    const __m256i mask = _mm256_set1_epi8(0x0f);
    for (int h = 0; h < 4; ++h) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * h));
      out.q[2 * h] = _mm256_and_si256(q, mask);
      out.q[2 * h + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), mask);
    }
    std::uint16_t bits;
    std::memcpy(&bits, &b.d, 2);
    out.d = _cvtsh_ss(bits);
    std::memcpy(&bits, &b.dmin, 2);
    out.dmin = _cvtsh_ss(bits);
  }
};

// Q6_K: w = d * sc_e/16 * (q - 32), q in [0, 63]. Element 128h + 32k + l has its
// low 4 bits in ql[64h + 32(k%2) + l] (high nibble for k >= 2) and its top 2 bits
// at bit 2k of qh[32h + l].
struct Q6K {
  using Block = block_q6_K;
  static constexpr bool kMin = false;
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
        const int group = 4 * h + k;  // elements 32*group .. 32*group+31
        out.scale[group] = scale_pair(b.scales[2 * group], b.scales[2 * group + 1]);
      }
    }
    std::uint16_t bits;
    std::memcpy(&bits, &b.d, 2);
    out.d = _cvtsh_ss(bits);
    out.dmin = 0.0f;
  }
};

// Exact integer dot of one decoded super-block with one Q8_K block, as 8 int32
// lanes: sum over groups of scale * sum(q * x), minus 32 * scale * sum(x) for Q6_K.
template <class W>
inline __m256i super_block_dot(const DecodedBlock& w, const block_q8_K& x) {
  __m256i acc = _mm256_setzero_si256();
  for (int g = 0; g < 8; ++g) {
    const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * g));
    __m256i prod = _mm256_maddubs_epi16(w.q[g], xq);  // |q| <= 63: no int16 overflow
    if constexpr (!W::kMin) prod = _mm256_sub_epi16(prod, _mm256_maddubs_epi16(_mm256_set1_epi8(32), xq));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(prod, w.scale[g]));
  }
  return acc;
}

// One weight row at a time (a decoded super-block fills most registers), B
// activation rows per decode. Per super-block: fma(d * d_x, isum) in 8 lanes, and
// for Q4_K the min term dmin * d_x * sum_j m_j * sum(x of sub-block j) in a scalar.
template <class W>
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
      for (int b = 0; b < B; ++b) {
        const block_q8_K& x = reinterpret_cast<const block_q8_K*>(t.x + b * t.x_stride)[ib];
        const __m256i isum = super_block_dot<W>(w, x);
        acc[b] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(w.d * x.d), acc[b]);
        if constexpr (W::kMin) {
          int msum = 0;
          for (int j = 0; j < 8; ++j) msum += w.min[j] * (x.bsums[2 * j] + x.bsums[2 * j + 1]);
          acc_min[b] += w.dmin * x.d * static_cast<float>(msum);
        }
      }
    }
    for (int b = 0; b < B; ++b) t.y[b * t.y_stride] = hsum(acc[b]) - acc_min[b];
  }
};

template <class Kernel>
void rows(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  run_tiles<Kernel, 1, 4>(args, row_begin, row_end);
}

}  // namespace

void fill_avx2_kquant(KernelTable& table) {
  // The activation quantizer stays the scalar Q8_K one set by fill_scalar_matmul.
  table.matmul[static_cast<int>(GgmlType::Q4_K)].rows = rows<KQuantTile<Q4K>>;
  table.matmul[static_cast<int>(GgmlType::Q6_K)].rows = rows<KQuantTile<Q6K>>;
}

}  // namespace qrag::kernels
