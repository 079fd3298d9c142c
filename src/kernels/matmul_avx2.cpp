// AVX2+FMA+F16C matmul: F32/F16/BF16 weights against F32, 32-wide quants against Q8_0/Q8_1.
#include <immintrin.h>

#include <cstring>

#include "kernels/dispatch.h"
#include "kernels/simd_quant.h"
#include "kernels/tiles.h"

namespace qrag::kernels {
namespace {

// Sums the 8 lanes in a fixed order.
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- float weights -------------------------------------------------------

// Loads 8 weights starting at element k as F32; `count` < 8 zero-fills the rest.
struct LoadF32 {
  static __m256 load(const std::byte* row, std::int64_t k) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k);
  }
  static __m256 load_tail(const std::byte* row, std::int64_t k, std::int64_t count) {
    float tmp[8] = {};
    std::memcpy(tmp, reinterpret_cast<const float*>(row) + k, static_cast<std::size_t>(count) * 4);
    return _mm256_loadu_ps(tmp);
  }
};

struct LoadF16 {
  static __m256 load(const std::byte* row, std::int64_t k) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * k)));
  }
  static __m256 load_tail(const std::byte* row, std::int64_t k, std::int64_t count) {
    std::uint16_t tmp[8] = {};
    std::memcpy(tmp, row + 2 * k, static_cast<std::size_t>(count) * 2);
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tmp)));
  }
};

struct LoadBF16 {
  static __m256 widen(__m128i bits) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
  }
  static __m256 load(const std::byte* row, std::int64_t k) {
    return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * k)));
  }
  static __m256 load_tail(const std::byte* row, std::int64_t k, std::int64_t count) {
    std::uint16_t tmp[8] = {};
    std::memcpy(tmp, row + 2 * k, static_cast<std::size_t>(count) * 2);
    return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tmp)));
  }
};

// R weight rows x B activation rows with one 8-lane accumulator per output. It
// sums over k in steps of 8, then reduces with hsum. The zero-padded tail is a
// separate step so that the main loop keeps the accumulators in registers.
template <class Load>
struct FloatTile {
  template <int R, int B, bool kTail>
  static void step(const Tile& t, std::int64_t k, __m256 (&acc)[R][B]) {
    __m256 w[R];
    for (int r = 0; r < R; ++r) {
      const std::byte* row = t.w + r * t.w_stride;
      w[r] = kTail ? Load::load_tail(row, k, t.k - k) : Load::load(row, k);
    }
    for (int b = 0; b < B; ++b) {
      const std::byte* x = t.x + b * t.x_stride;
      const __m256 xv = kTail ? LoadF32::load_tail(x, k, t.k - k) : LoadF32::load(x, k);
      for (int r = 0; r < R; ++r) acc[r][b] = _mm256_fmadd_ps(w[r], xv, acc[r][b]);
    }
  }

  template <int R, int B>
  static void run(const Tile& t) {
    __m256 acc[R][B];
    for (int r = 0; r < R; ++r)
      for (int b = 0; b < B; ++b) acc[r][b] = _mm256_setzero_ps();
    const std::int64_t k_main = t.k & ~std::int64_t{7};
    for (std::int64_t k = 0; k < k_main; k += 8) step<R, B, false>(t, k, acc);
    if (k_main < t.k) step<R, B, true>(t, k_main, acc);
    for (int b = 0; b < B; ++b)
      for (int r = 0; r < R; ++r) t.y[b * t.y_stride + r] = hsum(acc[r][b]);
  }
};

// Per block, the exact integer dot of weight and activation codes times d_w * d_x
// goes into 8 lanes. A block minimum m adds m * d_x * sum(x codes) in a scalar.
template <class W, class XBlock>
struct QuantTile {
  template <int R, int B>
  static void run(const Tile& t) {
    __m256 acc[R][B];
    float acc_min[R][B];
    for (int r = 0; r < R; ++r)
      for (int b = 0; b < B; ++b) {
        acc[r][b] = _mm256_setzero_ps();
        acc_min[r][b] = 0.0f;
      }
    const __m256i ones = _mm256_set1_epi16(1);
    const std::int64_t nb = t.k / 32;
    for (std::int64_t ib = 0; ib < nb; ++ib) {
      __m256i wq[R];
      float dw[R];
      float mw[R];
      for (int r = 0; r < R; ++r) {
        const auto& blk = reinterpret_cast<const typename W::Block*>(t.w + r * t.w_stride)[ib];
        wq[r] = W::values(blk);
        dw[r] = f16_to_f32(blk.d);
        mw[r] = W::min(blk);
      }
      for (int b = 0; b < B; ++b) {
        const auto& xb = reinterpret_cast<const XBlock*>(t.x + b * t.x_stride)[ib];
        const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
        const float dx = f16_to_f32(xb.d);
        float sx = 0.0f;
        if constexpr (W::kMin) sx = dx * static_cast<float>(sum_i8(xq));
        for (int r = 0; r < R; ++r) {
          __m256i prod;
          if constexpr (W::kUnsigned) {
            prod = _mm256_maddubs_epi16(wq[r], xq);
          } else {
            prod = _mm256_maddubs_epi16(_mm256_sign_epi8(wq[r], wq[r]), _mm256_sign_epi8(xq, wq[r]));
          }
          const __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(prod, ones));
          acc[r][b] = _mm256_fmadd_ps(dot, _mm256_set1_ps(dw[r] * dx), acc[r][b]);
          if constexpr (W::kMin) acc_min[r][b] += mw[r] * sx;
        }
      }
    }
    for (int b = 0; b < B; ++b)
      for (int r = 0; r < R; ++r) t.y[b * t.y_stride + r] = hsum(acc[r][b]) + acc_min[r][b];
  }
};

template <class Kernel>
void rows(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  run_tiles<Kernel, 4, 3>(args, row_begin, row_end);
}

}  // namespace

void fill_avx2_matmul(KernelTable& table) {
  auto set = [&](GgmlType type, GgmlType act, QuantizeRowFn quantize, MatmulRowsFn fn) {
    table.matmul[static_cast<int>(type)] = {act, quantize, fn};
  };
  set(GgmlType::F32, GgmlType::F32, nullptr, rows<FloatTile<LoadF32>>);
  set(GgmlType::F16, GgmlType::F32, nullptr, rows<FloatTile<LoadF16>>);
  set(GgmlType::BF16, GgmlType::F32, nullptr, rows<FloatTile<LoadBF16>>);
  set(GgmlType::Q8_0, GgmlType::Q8_0, quantize_q8_0_simd, rows<QuantTile<Q8_0W, block_q8_0>>);
  set(GgmlType::Q4_0, GgmlType::Q8_0, quantize_q8_0_simd, rows<QuantTile<Q4_0W, block_q8_0>>);
  set(GgmlType::Q5_0, GgmlType::Q8_0, quantize_q8_0_simd, rows<QuantTile<Q5_0W, block_q8_0>>);
  set(GgmlType::IQ4_NL, GgmlType::Q8_0, quantize_q8_0_simd, rows<QuantTile<IQ4NLW, block_q8_0>>);
  set(GgmlType::Q4_1, GgmlType::Q8_1, quantize_q8_1_simd, rows<QuantTile<Q4_1W, block_q8_1>>);
  set(GgmlType::Q5_1, GgmlType::Q8_1, quantize_q8_1_simd, rows<QuantTile<Q5_1W, block_q8_1>>);
}

}  // namespace qrag::kernels
