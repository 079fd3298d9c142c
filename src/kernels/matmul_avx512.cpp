// AVX-512 matmul: 16-lane float kernels, and VNNI (vpdpbusd) kernels for the 32-wide quants.
// GCC 12 reports the deliberately undefined vectors inside its own AVX-512
// intrinsics (_mm512_reduce_add_ps, _mm512_cvtph_ps) as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "kernels/dispatch.h"
#include "kernels/simd_quant.h"
#include "kernels/tiles.h"

namespace qrag::kernels {
namespace {

inline __mmask16 tail_mask(std::int64_t count) {
  return static_cast<__mmask16>((1u << static_cast<unsigned>(count)) - 1u);
}

// ---- float weights -------------------------------------------------------

// Loads 16 weights starting at element k as F32; the masked form zero-fills
// lanes at and beyond the mask. Only the tail uses masked loads, because GCC 12
// keeps the accumulators in memory across masked-load builtins.
struct LoadF32 {
  static constexpr int kBytes = 4;
  static __m512 load(const std::byte* row, std::int64_t k) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + k);
  }
  static __m512 load(const std::byte* row, std::int64_t k, __mmask16 mask) {
    return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(row) + k);
  }
};

struct LoadF16 {
  static constexpr int kBytes = 2;
  static __m512 load(const std::byte* row, std::int64_t k) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * k)));
  }
  static __m512 load(const std::byte* row, std::int64_t k, __mmask16 mask) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, row + 2 * k));
  }
};

struct LoadBF16 {
  static constexpr int kBytes = 2;
  static __m512 widen(__m256i bits) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
  }
  static __m512 load(const std::byte* row, std::int64_t k) {
    return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * k)));
  }
  static __m512 load(const std::byte* row, std::int64_t k, __mmask16 mask) {
    return widen(_mm256_maskz_loadu_epi16(mask, row + 2 * k));
  }
};

// R weight rows x B activation rows with one 16-lane accumulator per output. It
// sums over k in steps of 16 (the tail masked to zero), then reduces.
template <class Load>
struct FloatTile {
  template <int R, int B, class... Mask>
  static void step(const Tile& t, std::int64_t k, __m512 (&acc)[R][B], Mask... mask) {
    __m512 w[R];
    for (int r = 0; r < R; ++r) w[r] = Load::load(t.w + r * t.w_stride, k, mask...);
    for (int b = 0; b < B; ++b) {
      const __m512 xv = LoadF32::load(t.x + b * t.x_stride, k, mask...);
      for (int r = 0; r < R; ++r) acc[r][b] = _mm512_fmadd_ps(w[r], xv, acc[r][b]);
    }
  }

  template <int R, int B>
  static void run(const Tile& t) {
    __m512 acc[R][B];
    for (int r = 0; r < R; ++r)
      for (int b = 0; b < B; ++b) acc[r][b] = _mm512_setzero_ps();
    const std::int64_t k_main = t.k & ~std::int64_t{15};
    for (std::int64_t k = 0; k < k_main; k += 16) {
      // One prefetch per 64-byte line: every 64 / (16 * kBytes) steps.
      if constexpr (B == 1) {
        if ((k * Load::kBytes) % 64 == 0) prefetch_rows_ahead<R>(t, 2 * R, k * Load::kBytes);
      }
      step<R, B>(t, k, acc);
    }
    if (k_main < t.k) step<R, B>(t, k_main, acc, tail_mask(t.k - k_main));
    for (int b = 0; b < B; ++b)
      for (int r = 0; r < R; ++r) t.y[b * t.y_stride + r] = _mm512_reduce_add_ps(acc[r][b]);
  }
};

// ---- 32-wide quantized weights with VNNI ------------------------------------

inline __m512i join(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

inline __m512 join(float lo, float hi) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(lo)), _mm256_set1_ps(hi), 1);
}

// Widens two F16 scales to F32 lanes 0-7 (lo) and 8-15 (hi). Two broadcasts and one
// conversion replace two scalar conversions, two broadcasts and an insert.
inline __m512 join_f16(std::uint16_t lo, std::uint16_t hi) {
  const __m256i both = _mm256_mask_set1_epi16(_mm256_set1_epi16(static_cast<short>(lo)), 0xff00,
                                              static_cast<short>(hi));
  return _mm512_cvtph_ps(both);
}

// Codes of two blocks of 32 weights packed as in Q4_0, Q4_1, Q5_0 and Q5_1: weight
// j < 16 in the low nibble of qs[j] and weight j + 16 in its high nibble. Bytes
// 0-31 of the result are block 0's 32 codes in order and bytes 32-63 block 1's
// (zero when qs1 is null). The 128-bit lanes are [q0, q0, q1, q1], with the
// second and fourth shifted down a nibble.
inline __m512i nibble_pair(const std::uint8_t* qs0, const std::uint8_t* qs1) {
  const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs0));
  const __m128i q1 = qs1 != nullptr ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs1)) : _mm_setzero_si128();
  const __m512i both = _mm512_castsi256_si512(_mm256_set_m128i(q1, q0));
  const __m512i spread = _mm512_shuffle_i64x2(both, both, _MM_SHUFFLE(1, 1, 0, 0));
  const __m512i shifted = _mm512_mask_srli_epi64(spread, static_cast<__mmask8>(0xcc), spread, 4);
  return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0f));
}

// The fifth bit of Q5_0 and Q5_1 codes in the byte order of nibble_pair: 0x10 in
// byte j where bit j of the 32-bit qh0 is set, and in byte 32 + j for qh1 (absent
// when null). A 64-bit mask register turns the bits into bytes in one instruction.
inline __m512i high_bit_pair(const std::uint8_t* qh0, const std::uint8_t* qh1) {
  std::uint32_t bits0 = 0;
  std::uint32_t bits1 = 0;
  std::memcpy(&bits0, qh0, sizeof(bits0));
  if (qh1 != nullptr) std::memcpy(&bits1, qh1, sizeof(bits1));
  const auto mask = static_cast<__mmask64>(bits0 | (static_cast<std::uint64_t>(bits1) << 32));
  return _mm512_maskz_mov_epi8(mask, _mm512_set1_epi8(0x10));
}

// Five-bit codes of a Q5_0 or Q5_1 block pair (blk[1] absent unless `pair`).
template <class Block>
inline __m512i five_bit_pair(const Block* blk, bool pair) {
  return _mm512_or_si512(nibble_pair(blk[0].qs, pair ? blk[1].qs : nullptr),
                         high_bit_pair(blk[0].qh, pair ? blk[1].qh : nullptr));
}

// Q4_0 read as unsigned nibbles q in [0, 16) instead of q - 8. Since sum (q - 8) x
// equals sum q x - 8 sum x, the weights skip the signed conversion. The term
// -8 sum x is computed once per activation block pair and seeds every row's vpdpbusd.
struct Q4_0Nibbles {
  using Block = block_q4_0;
  static constexpr bool kUnsigned = true;
  static constexpr bool kMin = false;
  static constexpr int kOffset = 8;
  static float min(const Block&) { return 0.0f; }

  // Zero codes stand in for an absent second block, whose scale is zero too.
  static __m512i pair_values(const Block* blk, bool pair) { return nibble_pair(blk[0].qs, pair ? blk[1].qs : nullptr); }
};

// Q5_0 as unsigned codes q in [0, 32) with value q - 16, the same arrangement as
// Q4_0Nibbles: the term -16 sum x comes prepared with x. The integer sums equal
// those of the signed form exactly, so the results keep their bits.
struct Q5_0Nibbles {
  using Block = block_q5_0;
  static constexpr bool kUnsigned = true;
  static constexpr bool kMin = false;
  static constexpr int kOffset = 16;
  static float min(const Block&) { return 0.0f; }
  static __m512i pair_values(const Block* blk, bool pair) { return five_bit_pair(blk, pair); }
};

// Q4_1 and Q5_1 (unsigned codes with a block minimum) with both blocks of a pair
// decoded in 512-bit registers instead of two 256-bit halves.
struct Q4_1Pair : Q4_1W {
  static __m512i pair_values(const Block* blk, bool pair) { return nibble_pair(blk[0].qs, pair ? blk[1].qs : nullptr); }
};

struct Q5_1Pair : Q5_1W {
  static __m512i pair_values(const Block* blk, bool pair) { return five_bit_pair(blk, pair); }
};

// Q8_0 with its signed codes w read as w + 128 (XOR 0x80), so that vpdpbusd takes
// them as the unsigned operand and x as the signed one. sum w x = sum (w + 128) x -
// 128 sum x, and -128 sum x comes prepared with x: one XOR per weight block pair
// replaces a vpdpbusd and a subtraction for -128 sum w.
struct Q8_0Biased {
  using Block = block_q8_0;
  static constexpr bool kUnsigned = true;
  static constexpr bool kMin = false;
  static constexpr int kOffset = 128;
  static float min(const Block&) { return 0.0f; }

  static __m512i pair_values(const Block* blk, bool pair) {
    const __m256i q0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[0].qs));
    const __m256i q1 = pair ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[1].qs)) : _mm256_set1_epi8(-128);
    // The absent block becomes -128 ^ 0x80 = 0, as the other types' zero codes.
    return _mm512_xor_si512(join(q0, q1), _mm512_set1_epi8(static_cast<char>(0x80)));
  }
};

// Weight codes minus this offset are the signed values (0 for the other types).
template <class W>
constexpr int code_offset() {
  if constexpr (requires { W::kOffset; }) {
    return W::kOffset;
  } else {
    return 0;
  }
}

// Codes of blocks ib and ib + 1 in lanes 0-7 and 8-15.
template <class W>
inline __m512i pair_codes(const typename W::Block* blk, bool pair) {
  if constexpr (requires { W::pair_values(blk, pair); }) {
    return W::pair_values(blk, pair);
  } else {
    return join(W::values(blk[0]), pair ? W::values(blk[1]) : _mm256_setzero_si256());
  }
}

// An activation block pair in the form the tile's inner loop consumes, prepared
// once per matmul call instead of once per tile of weight rows (256 bytes).
struct alignas(64) PreparedPair {
  __m512i xu;       // codes of blocks ib and ib + 1, plus 128 (XOR 0x80) for signed weights
  __m512i x_start;  // -offset * sum(x) per 4-byte group; zero unless the weights have a code offset
  __m512 dx;        // block scales, lanes 0-7 and 8-15
  float sx[2];      // d_x * sum(x codes) per block, for weights with a block minimum
  float pad[14];
};

// Prepares the pair of activation blocks xb[0], xb[1] (xb[1] absent unless `pair`).
template <class W, class XBlock>
inline void prepare_pair(const XBlock* xb, bool pair, PreparedPair& out) {
  const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[0].qs));
  const __m256i x1 = pair ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[1].qs)) : _mm256_setzero_si256();
  const __m512i xq = join(x0, x1);
  out.dx = join_f16(xb[0].d, pair ? xb[1].d : std::uint16_t{0});
  out.sx[0] = 0.0f;
  out.sx[1] = 0.0f;
  if constexpr (W::kMin) {
    const float dx0 = f16_to_f32(xb[0].d);
    const float dx1 = pair ? f16_to_f32(xb[1].d) : 0.0f;
    out.sx[0] = dx0 * static_cast<float>(sum_i8(x0));
    out.sx[1] = dx1 * static_cast<float>(sum_i8(x1));
  }
  out.xu = W::kUnsigned ? xq : _mm512_xor_si512(xq, _mm512_set1_epi8(static_cast<char>(0x80)));
  out.x_start = _mm512_setzero_si512();
  if constexpr (code_offset<W>() != 0) {
    out.x_start = _mm512_sub_epi32(out.x_start, _mm512_dpbusd_epi32(out.x_start, _mm512_set1_epi8(static_cast<char>(code_offset<W>())), xq));
  }
}

// Two blocks per step: lanes 0-7 hold block ib, lanes 8-15 block ib+1 (zero
// codes and scale when ib is the last, odd block). Signed weights use
// vpdpbusd(x + 128, w) - 128 * sum(w); unsigned weights (with a block minimum
// m) use vpdpbusd(w, x) and add m * d_x * sum(x codes) separately. The x rows
// of the tile are PreparedPair rows (see quant_rows).
// TODO: at batch 512 this reaches about a quarter of the vpdpbusd peak, because
// each vpdpbusd needs a convert, a scale product and an FMA. A repacked weight
// layout that lets several blocks accumulate in int32 before scaling would lift that.
template <class W>
struct QuantTileVnni {
  template <int R, int B>
  static void run(const Tile& t) {
    __m512 acc[R][B];
    float acc_min[R][B];
    for (int r = 0; r < R; ++r)
      for (int b = 0; b < B; ++b) {
        acc[r][b] = _mm512_setzero_ps();
        acc_min[r][b] = 0.0f;
      }
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
    const std::int64_t nb = t.k / 32;
    for (std::int64_t ib = 0; ib < nb; ib += 2) {
      if constexpr (B == 1) prefetch_rows_ahead<R>(t, 6 * R, ib * static_cast<std::int64_t>(sizeof(typename W::Block)));
      const bool pair = ib + 1 < nb;
      __m512i wq[R];
      __m512i w_start[R];  // -128 * sum(w) per 4-byte group, or zero for unsigned weights
      __m512 dw[R];
      float mw[R][2];
      for (int r = 0; r < R; ++r) {
        const auto* blk = reinterpret_cast<const typename W::Block*>(t.w + r * t.w_stride) + ib;
        wq[r] = pair_codes<W>(blk, pair);
        dw[r] = join_f16(blk[0].d, pair ? blk[1].d : std::uint16_t{0});
        mw[r][0] = W::min(blk[0]);
        mw[r][1] = pair ? W::min(blk[1]) : 0.0f;
        if constexpr (W::kUnsigned) {
          w_start[r] = _mm512_setzero_si512();
        } else {
          w_start[r] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, wq[r]));
        }
      }
      for (int b = 0; b < B; ++b) {
        const PreparedPair& px = reinterpret_cast<const PreparedPair*>(t.x + b * t.x_stride)[ib / 2];
        for (int r = 0; r < R; ++r) {
          const __m512i dot = !W::kUnsigned            ? _mm512_dpbusd_epi32(w_start[r], px.xu, wq[r])
                              : code_offset<W>() != 0 ? _mm512_dpbusd_epi32(px.x_start, wq[r], px.xu)
                                                      : _mm512_dpbusd_epi32(w_start[r], wq[r], px.xu);
          acc[r][b] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw[r], px.dx), acc[r][b]);
          if constexpr (W::kMin) {
            // Explicit FMAs, because the compiler contracted these sums differently
            // for different tile sizes, and batch 1 and batch 7 gave different bits.
            acc_min[r][b] = __builtin_fmaf(mw[r][0], px.sx[0], acc_min[r][b]);
            acc_min[r][b] = __builtin_fmaf(mw[r][1], px.sx[1], acc_min[r][b]);
          }
        }
      }
    }
    for (int b = 0; b < B; ++b)
      for (int r = 0; r < R; ++r) t.y[b * t.y_stride + r] = _mm512_reduce_add_ps(acc[r][b]) + acc_min[r][b];
  }
};

// Bytes of PreparedPair rows for n_batch activation rows of k elements.
std::size_t prepared_bytes(int n_batch, std::int64_t k) {
  const auto pairs = static_cast<std::size_t>((k / 32 + 1) / 2);
  return static_cast<std::size_t>(n_batch) * pairs * sizeof(PreparedPair);
}

// Prepares every activation row into the thread's scratch (each thread does so for
// the whole batch, a small cost next to the rows it multiplies), then runs the tiles.
template <class W, class XBlock, int R, int B>
void quant_rows(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  const std::int64_t nb = args.w->n_cols / 32;
  const std::int64_t pairs = (nb + 1) / 2;
  auto* prepared = static_cast<PreparedPair*>(args.scratch);
  const auto* x = static_cast<const std::byte*>(args.x);
  for (int b = 0; b < args.n_batch; ++b) {
    const auto* xb = reinterpret_cast<const XBlock*>(x + static_cast<std::size_t>(b) * args.x_row_bytes);
    for (std::int64_t p = 0; p < pairs; ++p) prepare_pair<W>(xb + 2 * p, 2 * p + 1 < nb, prepared[b * pairs + p]);
  }
  MatmulArgs prepared_args = args;
  prepared_args.x = prepared;
  prepared_args.x_row_bytes = static_cast<std::size_t>(pairs) * sizeof(PreparedPair);
  run_tiles<QuantTileVnni<W>, R, B>(prepared_args, row_begin, row_end);
}

template <class Kernel, int R, int B>
void rows(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  run_tiles<Kernel, R, B>(args, row_begin, row_end);
}

// At batch 1 (decode) a taller tile of R1 rows keeps more weight loads in flight.
template <class Kernel, int R1, int R, int B>
void rows_tall(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  if (args.n_batch == 1) {
    run_tiles<Kernel, R1, 1>(args, row_begin, row_end);
  } else {
    run_tiles<Kernel, R, B>(args, row_begin, row_end);
  }
}

}  // namespace

void fill_avx512_matmul(KernelTable& table, bool vnni) {
  auto set = [&](GgmlType type, GgmlType act, QuantizeRowFn quantize, MatmulRowsFn fn) {
    table.matmul[static_cast<int>(type)] = {act, quantize, fn};
  };
  set(GgmlType::F32, GgmlType::F32, nullptr, rows_tall<FloatTile<LoadF32>, 8, 4, 4>);
  set(GgmlType::F16, GgmlType::F32, nullptr, rows_tall<FloatTile<LoadF16>, 8, 4, 4>);
  set(GgmlType::BF16, GgmlType::F32, nullptr, rows_tall<FloatTile<LoadBF16>, 8, 4, 4>);
  // Without VNNI the AVX2 quantized kernels stay in the table.
  if (!vnni) return;
  const auto set_quant = [&](GgmlType type, GgmlType act, QuantizeRowFn quantize, MatmulRowsFn fn) {
    table.matmul[static_cast<int>(type)] = {act, quantize, fn, prepared_bytes};
  };
  set_quant(GgmlType::Q8_0, GgmlType::Q8_0, quantize_q8_0_simd, quant_rows<Q8_0Biased, block_q8_0, 4, 4>);
  set_quant(GgmlType::Q4_0, GgmlType::Q8_0, quantize_q8_0_simd, quant_rows<Q4_0Nibbles, block_q8_0, 4, 4>);
  set_quant(GgmlType::Q5_0, GgmlType::Q8_0, quantize_q8_0_simd, quant_rows<Q5_0Nibbles, block_q8_0, 4, 4>);
  set_quant(GgmlType::IQ4_NL, GgmlType::Q8_0, quantize_q8_0_simd, quant_rows<IQ4NLW, block_q8_0, 4, 4>);
  set_quant(GgmlType::Q4_1, GgmlType::Q8_1, quantize_q8_1_simd, quant_rows<Q4_1Pair, block_q8_1, 4, 4>);
  set_quant(GgmlType::Q5_1, GgmlType::Q8_1, quantize_q8_1_simd, quant_rows<Q5_1Pair, block_q8_1, 4, 4>);
}

}  // namespace qrag::kernels
