// AVX-512 VNNI matmul for the K-quants: two 32-weight groups per 512-bit product.
// GCC 12 reports the deliberately undefined vectors inside its own AVX-512
// intrinsics (_mm512_castsi256_si512) as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/dispatch.h"
#include "kernels/kquant_decode.h"
#include "kernels/simd_quant.h"
#include "kernels/tiles.h"

namespace qrag::kernels {
namespace {

// The decoded super-block with groups 2h and 2h + 1 side by side in 512 bits:
// q[h] and scale[h] hold their codes and int16 multipliers. Built once per
// super-block and reused for every activation row of the tile.
struct PairedBlock {
  __m512i q[4];
  __m512i scale[4];
};

inline __m512i join_halves(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// The AVX2 dot's integer lanes with half the instructions: maddubs over two groups
// at once, then vpdpwssd, which multiplies by the scales and adds the int16 pairs
// into the int32 accumulator in one step (exact, as madd plus add). Lanes 8-15 sum
// the odd groups and are folded onto lanes 0-7 at the end, so each lane contains the
// same integer as in Avx2Dot.
struct VnniDot {
  using Prepared = PairedBlock;
  static PairedBlock prepare(const DecodedBlock& w) {
    PairedBlock paired;
    for (int h = 0; h < 4; ++h) {
      paired.q[h] = join_halves(w.q[2 * h], w.q[2 * h + 1]);
      paired.scale[h] = join_halves(w.scale[2 * h], w.scale[2 * h + 1]);
    }
    return paired;
  }

  template <class W>
  static __m256i run(const PairedBlock& w, const block_q8_K& x) {
    __m512i acc = _mm512_setzero_si512();
    for (int h = 0; h < 4; ++h) {
      const __m512i xq = _mm512_loadu_si512(x.qs + 64 * h);
      __m512i prod = _mm512_maddubs_epi16(w.q[h], xq);  // q <= 63 and |x| <= 127: no int16 saturation
      if constexpr (W::kOffset != 0) {
        prod = _mm512_sub_epi16(prod, _mm512_maddubs_epi16(_mm512_set1_epi8(W::kOffset), xq));
      }
      acc = _mm512_dpwssd_epi32(acc, prod, w.scale[h]);
    }
    return _mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1));
  }
};

// At batch 1 the pairing is not amortized: Q2_K and Q4_K decode ran 10-20% slower
// with it (matmul_bench at 4096x4096 on a 2-vCPU Xeon), so single rows keep the
// 256-bit dot. Both dots give the same integers, hence the same bits for any batch.
template <class W>
void rows(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  if (args.n_batch == 1) {
    run_tiles<KQuantTile<W, Avx2Dot>, 1, 4>(args, row_begin, row_end);
  } else {
    run_tiles<KQuantTile<W, VnniDot>, 1, 4>(args, row_begin, row_end);
  }
}

}  // namespace

void fill_avx512_kquant(KernelTable& table) {
  table.matmul[static_cast<int>(GgmlType::Q2_K)].rows = rows<Q2K>;
  table.matmul[static_cast<int>(GgmlType::Q3_K)].rows = rows<Q3K>;
  table.matmul[static_cast<int>(GgmlType::Q4_K)].rows = rows<Q4K>;
  table.matmul[static_cast<int>(GgmlType::Q5_K)].rows = rows<Q5K>;
  table.matmul[static_cast<int>(GgmlType::Q6_K)].rows = rows<Q6K>;
}

}  // namespace qrag::kernels
