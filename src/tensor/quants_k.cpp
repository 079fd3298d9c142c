// Quantizers of the K-quant super-blocks Q2_K, Q3_K, Q4_K, Q5_K and Q6_K.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/fp16.h"
#include "tensor/quant_math.h"
#include "tensor/quants.h"

namespace qrag::tensor {
namespace {

using detail::clamp_int;
using detail::nearest_int;

std::int64_t super_block_count(std::int64_t n) {
  QRAG_CHECK(n >= 0 && n % QK_K == 0, "row length is not a multiple of the K-quant super-block size");
  return n / QK_K;
}

// Packs 2-bit codes L [256]: element 128*h + 32*k + l goes to qs[32*h + l] at bit 2*k.
void pack_2bit(const std::uint8_t* L, std::uint8_t* qs) {
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const std::uint8_t* Lh = L + 128 * h + l;
      qs[32 * h + l] = static_cast<std::uint8_t>(Lh[0] | (Lh[32] << 2) | (Lh[64] << 4) | (Lh[96] << 6));
    }
  }
}

// Shared encoder of Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins.
struct ScaleMinEncoding {
  f16_bits d;
  f16_bits dmin;
  std::uint8_t scales[K_SCALE_SIZE];
  std::uint8_t L[QK_K];  // codes in [0, nmax]
};

// Fits each sub-block of x [256] (ggml's weights av_x + |x| when fit_weights is null),
// quantizes the scales and mins to 6 bits against the super-block d and dmin, then
// re-rounds every element against its quantized scale and min.
void encode_scale_min_k4(const float* x, const float* fit_weights, int nmax, float rmin, int nstep,
                         ScaleMinEncoding* out) {
  float scales[QK_K / 32];
  float mins[QK_K / 32];
  float weights[32];
  std::uint8_t laux[32];
  float max_scale = 0.0f;
  float max_min = 0.0f;
  for (int j = 0; j < QK_K / 32; ++j) {
    const float* xs = x + 32 * j;
    if (fit_weights != nullptr) {
      std::copy_n(fit_weights + 32 * j, 32, weights);
    } else {
      float sum_x2 = 0.0f;
      for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
      const float av_x = std::sqrt(sum_x2 / 32.0f);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    }
    scales[j] = detail::fit_scale_min(32, nmax, xs, weights, out->L + 32 * j, &mins[j], laux, rmin, 0.1f,
                                      nstep, false);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }

  const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
  std::uint8_t* packed = out->scales;
  for (int j = 0; j < QK_K / 32; ++j) {
    const auto ls = static_cast<std::uint8_t>(clamp_int(nearest_int(inv_scale * scales[j]), 0, 63));
    const auto lm = static_cast<std::uint8_t>(clamp_int(nearest_int(inv_min * mins[j]), 0, 63));
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = static_cast<std::uint8_t>((ls & 0x0f) | ((lm & 0x0f) << 4));
      packed[j - 4] |= static_cast<std::uint8_t>((ls >> 4) << 6);
      packed[j] |= static_cast<std::uint8_t>((lm >> 4) << 6);
    }
  }
  out->d = fp32_to_fp16(max_scale / 63.0f);
  out->dmin = fp32_to_fp16(max_min / 63.0f);

  for (int j = 0; j < QK_K / 32; ++j) {
    std::uint8_t sc = 0;
    std::uint8_t m = 0;
    unpack_scale_min_k4(j, packed, &sc, &m);
    const float d = fp16_to_fp32(out->d) * static_cast<float>(sc);
    if (d == 0.0f) continue;  // keeps the fitted codes, as ggml does
    const float dm = fp16_to_fp32(out->dmin) * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) {
      out->L[32 * j + l] =
          static_cast<std::uint8_t>(clamp_int(nearest_int((x[32 * j + l] + dm) / d), 0, nmax));
    }
  }
}

void encode_q4_K(const float* x, const float* fit_weights, block_q4_K* y) {
  ScaleMinEncoding enc;
  encode_scale_min_k4(x, fit_weights, 15, -1.0f, 20, &enc);
  y->d = enc.d;
  y->dmin = enc.dmin;
  std::memcpy(y->scales, enc.scales, K_SCALE_SIZE);
  for (int h = 0; h < QK_K / 64; ++h) {
    for (int l = 0; l < 32; ++l) {
      y->qs[32 * h + l] = static_cast<std::uint8_t>(enc.L[64 * h + l] | (enc.L[64 * h + 32 + l] << 4));
    }
  }
}

void encode_q5_K(const float* x, const float* fit_weights, block_q5_K* y) {
  ScaleMinEncoding enc;
  encode_scale_min_k4(x, fit_weights, 31, -0.5f, 15, &enc);
  y->d = enc.d;
  y->dmin = enc.dmin;
  std::memcpy(y->scales, enc.scales, K_SCALE_SIZE);
  std::memset(y->qh, 0, sizeof(y->qh));
  for (int h = 0; h < QK_K / 64; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int lo = enc.L[64 * h + l];
      const int hi = enc.L[64 * h + 32 + l];
      y->qs[32 * h + l] = static_cast<std::uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
      // Bit `sub` of qh[l] is the fifth bit of sub-block `sub` (sub = 2h, 2h+1).
      y->qh[l] |= static_cast<std::uint8_t>(((lo >> 4) << (2 * h)) | ((hi >> 4) << (2 * h + 1)));
    }
  }
}

// Q2_K: 16 sub-blocks of 16, codes 0..3, 4-bit scales and mins. ggml's reference fits
// use |x| weights and the absolute error; explicit weights use the squared error.
void encode_q2_K(const float* x, const float* fit_weights, block_q2_K* y) {
  std::uint8_t L[QK_K];
  std::uint8_t laux[16];
  float weights[16];
  float scales[QK_K / 16];
  float mins[QK_K / 16];
  float max_scale = 0.0f;
  float max_min = 0.0f;
  for (int j = 0; j < QK_K / 16; ++j) {
    const float* xs = x + 16 * j;
    for (int l = 0; l < 16; ++l)
      weights[l] = fit_weights != nullptr ? fit_weights[16 * j + l] : std::fabs(xs[l]);
    scales[j] = detail::fit_scale_min(16, 3, xs, weights, L + 16 * j, &mins[j], laux, -0.5f, 0.1f, 15,
                                      fit_weights == nullptr);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }

  std::memset(y->scales, 0, sizeof(y->scales));
  y->d = fp32_to_fp16(0.0f);
  y->dmin = fp32_to_fp16(0.0f);
  if (max_scale > 0.0f) {
    const float iscale = 15.0f / max_scale;
    for (int j = 0; j < QK_K / 16; ++j) {
      y->scales[j] = static_cast<std::uint8_t>(clamp_int(nearest_int(iscale * scales[j]), 0, 15));
    }
    y->d = fp32_to_fp16(max_scale / 15.0f);
  }
  if (max_min > 0.0f) {
    const float iscale = 15.0f / max_min;
    for (int j = 0; j < QK_K / 16; ++j) {
      y->scales[j] |= static_cast<std::uint8_t>(clamp_int(nearest_int(iscale * mins[j]), 0, 15) << 4);
    }
    y->dmin = fp32_to_fp16(max_min / 15.0f);
  }

  for (int j = 0; j < QK_K / 16; ++j) {
    const float d = fp16_to_fp32(y->d) * static_cast<float>(y->scales[j] & 0x0f);
    if (d == 0.0f) continue;
    const float dm = fp16_to_fp32(y->dmin) * static_cast<float>(y->scales[j] >> 4);
    for (int l = 0; l < 16; ++l) {
      L[16 * j + l] = static_cast<std::uint8_t>(clamp_int(nearest_int((x[16 * j + l] + dm) / d), 0, 3));
    }
  }
  pack_2bit(L, y->qs);
}

// Q3_K: 16 sub-blocks of 16, levels -4..3, signed 6-bit scales against d.
void encode_q3_K(const float* x, const float* fit_weights, block_q3_K* y) {
  std::int8_t levels[QK_K];  // fitted codes in [0, 7]
  float scales[QK_K / 16];
  float max_scale = 0.0f;
  float amax = 0.0f;
  for (int j = 0; j < QK_K / 16; ++j) {
    scales[j] = fit_weights != nullptr
                    ? detail::fit_scale_symmetric(16, 4, x + 16 * j, levels + 16 * j, fit_weights + 16 * j)
                    : detail::fit_scale_q3(16, 4, x + 16 * j, levels + 16 * j);
    if (std::fabs(scales[j]) > amax) {
      amax = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }

  std::memset(y->scales, 0, sizeof(y->scales));
  y->d = fp32_to_fp16(0.0f);
  if (max_scale != 0.0f) {
    const float iscale = -32.0f / max_scale;
    for (int j = 0; j < QK_K / 16; ++j) {
      const int l = clamp_int(nearest_int(iscale * scales[j]), -32, 31) + 32;
      if (j < 8) {
        y->scales[j] = static_cast<std::uint8_t>(l & 0x0f);
      } else {
        y->scales[j - 8] |= static_cast<std::uint8_t>((l & 0x0f) << 4);
      }
      y->scales[8 + j % 4] |= static_cast<std::uint8_t>((l >> 4) << (2 * (j / 4)));
    }
    y->d = fp32_to_fp16(1.0f / iscale);
  }

  std::int8_t quantized_scales[QK_K / 16];
  unpack_scales_q3_K(y->scales, quantized_scales);
  std::uint8_t L[QK_K];
  for (int e = 0; e < QK_K; ++e) L[e] = static_cast<std::uint8_t>(levels[e]);
  for (int j = 0; j < QK_K / 16; ++j) {
    const float d = fp16_to_fp32(y->d) * static_cast<float>(quantized_scales[j]);
    if (d == 0.0f) continue;
    for (int l = 0; l < 16; ++l) {
      L[16 * j + l] = static_cast<std::uint8_t>(clamp_int(nearest_int(x[16 * j + l] / d), -4, 3) + 4);
    }
  }
  // Bit 2 of code e goes to hmask[e % 32] at bit e / 32; the low 2 bits to qs.
  std::memset(y->hmask, 0, sizeof(y->hmask));
  for (int e = 0; e < QK_K; ++e) {
    if (L[e] > 3) {
      y->hmask[e % 32] |= static_cast<std::uint8_t>(1u << (e / 32));
      L[e] = static_cast<std::uint8_t>(L[e] - 4);
    }
  }
  pack_2bit(L, y->qs);
}

// Q6_K: 16 sub-blocks of 16, levels -32..31, int8 scales against d.
void encode_q6_K(const float* x, const float* fit_weights, block_q6_K* y) {
  std::int8_t L[QK_K];  // codes in [0, 63]
  float scales[QK_K / 16];
  float max_scale = 0.0f;
  float max_abs_scale = 0.0f;
  for (int j = 0; j < QK_K / 16; ++j) {
    const float* w = fit_weights != nullptr ? fit_weights + 16 * j : nullptr;
    scales[j] = detail::fit_scale_symmetric(16, 32, x + 16 * j, L + 16 * j, w);
    if (std::fabs(scales[j]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  if (max_abs_scale < detail::kGroupMaxEps) {
    std::memset(y, 0, sizeof(*y));
    return;
  }

  const float iscale = -128.0f / max_scale;
  y->d = fp32_to_fp16(1.0f / iscale);
  for (int j = 0; j < QK_K / 16; ++j) {
    y->scales[j] = static_cast<std::int8_t>(clamp_int(nearest_int(iscale * scales[j]), -128, 127));
  }
  for (int j = 0; j < QK_K / 16; ++j) {
    const float d = fp16_to_fp32(y->d) * static_cast<float>(y->scales[j]);
    if (d == 0.0f) continue;
    for (int l = 0; l < 16; ++l) {
      L[16 * j + l] = static_cast<std::int8_t>(clamp_int(nearest_int(x[16 * j + l] / d), -32, 31) + 32);
    }
  }
  // Element 128*h + 32*k + l: low nibble to ql[64h + 32*(k%2) + l] (high nibble for k >= 2),
  // bits 4-5 to qh[32h + l] at bit 2k.
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const std::int8_t* Lh = L + 128 * h + l;
      y->ql[64 * h + l] = static_cast<std::uint8_t>((Lh[0] & 0x0f) | ((Lh[64] & 0x0f) << 4));
      y->ql[64 * h + 32 + l] = static_cast<std::uint8_t>((Lh[32] & 0x0f) | ((Lh[96] & 0x0f) << 4));
      y->qh[32 * h + l] = static_cast<std::uint8_t>((Lh[0] >> 4) | ((Lh[32] >> 4) << 2) |
                                                    ((Lh[64] >> 4) << 4) | ((Lh[96] >> 4) << 6));
    }
  }
}

// Quantizes each super-block with every weight set of FitWeightSets and keeps the best.
template <typename Block>
void quantize_super_blocks(const float* x, Block* y, std::int64_t n, const float* importance,
                           bool reference_only, void (*encode)(const float*, const float*, Block*),
                           void (*decode)(const Block*, float*, std::int64_t)) {
  const std::int64_t nb = super_block_count(n);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * QK_K;
    const float* ib = importance != nullptr ? importance + i * QK_K : nullptr;
    const detail::FitWeightSets weight_sets(xb, ib, QK_K, reference_only);
    detail::keep_best_candidate(
        xb, QK_K, ib, weight_sets, [&](const float* w, Block* block) { encode(xb, w, block); },
        [&](const Block* block, float* out, int count) { decode(block, out, count); }, &y[i]);
  }
}

}  // namespace

void quantize_row_q2_K(const float* x, block_q2_K* y, std::int64_t n, const float* importance) {
  quantize_super_blocks(x, y, n, importance, false, encode_q2_K, dequantize_row_q2_K);
}

void quantize_row_q2_K_ref(const float* x, block_q2_K* y, std::int64_t n) {
  quantize_super_blocks(x, y, n, nullptr, true, encode_q2_K, dequantize_row_q2_K);
}

void quantize_row_q3_K(const float* x, block_q3_K* y, std::int64_t n, const float* importance) {
  quantize_super_blocks(x, y, n, importance, false, encode_q3_K, dequantize_row_q3_K);
}

void quantize_row_q3_K_ref(const float* x, block_q3_K* y, std::int64_t n) {
  quantize_super_blocks(x, y, n, nullptr, true, encode_q3_K, dequantize_row_q3_K);
}

void quantize_row_q4_K(const float* x, block_q4_K* y, std::int64_t n, const float* importance) {
  quantize_super_blocks(x, y, n, importance, false, encode_q4_K, dequantize_row_q4_K);
}

void quantize_row_q4_K_ref(const float* x, block_q4_K* y, std::int64_t n) {
  quantize_super_blocks(x, y, n, nullptr, true, encode_q4_K, dequantize_row_q4_K);
}

void quantize_row_q5_K(const float* x, block_q5_K* y, std::int64_t n, const float* importance) {
  quantize_super_blocks(x, y, n, importance, false, encode_q5_K, dequantize_row_q5_K);
}

void quantize_row_q5_K_ref(const float* x, block_q5_K* y, std::int64_t n) {
  quantize_super_blocks(x, y, n, nullptr, true, encode_q5_K, dequantize_row_q5_K);
}

void quantize_row_q6_K(const float* x, block_q6_K* y, std::int64_t n, const float* importance) {
  quantize_super_blocks(x, y, n, importance, false, encode_q6_K, dequantize_row_q6_K);
}

void quantize_row_q6_K_ref(const float* x, block_q6_K* y, std::int64_t n) {
  quantize_super_blocks(x, y, n, nullptr, true, encode_q6_K, dequantize_row_q6_K);
}

}  // namespace qrag::tensor
