// Decoding of the K-quant super-blocks and IQ4_NL, and the Q8_K activation quantizer.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "tensor/fp16.h"
#include "tensor/quant_math.h"
#include "tensor/quants.h"

namespace qrag::tensor {
namespace {

std::int64_t block_count(std::int64_t n, int block_size) {
  QRAG_CHECK(n >= 0 && n % block_size == 0, "row length is not a multiple of the block size");
  return n / block_size;
}

}  // namespace

void unpack_scale_min_k4(int j, const std::uint8_t* scales, std::uint8_t* scale, std::uint8_t* min) {
  // Bytes 0-3: 6-bit scales of sub-blocks 0-3; bytes 4-7: their 6-bit mins. Bytes 8-11
  // hold the low nibbles of sub-blocks 4-7 (scale low, min high), whose top 2 bits sit
  // in bits 6-7 of bytes 0-3 (scales) and 4-7 (mins).
  if (j < 4) {
    *scale = scales[j] & 63;
    *min = scales[j + 4] & 63;
  } else {
    *scale = static_cast<std::uint8_t>((scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4));
    *min = static_cast<std::uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

void unpack_scales_q3_K(const std::uint8_t* scales, std::int8_t* out) {
  // Low nibbles: bytes 0-7 (sub-blocks 0-7 low half, 8-15 high half). Top 2 bits of
  // sub-block j: byte 8 + j%4, bit offset 2*(j/4). Stored with a +32 bias.
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (scales[j] & 0x0f) : (scales[j - 8] >> 4);
    const int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    out[j] = static_cast<std::int8_t>((low | (high << 4)) - 32);
  }
}

// Q2_K and Q3_K store the 2 low bits of element e = 128*h + 32*k + l (h 0..1, k 0..3,
// l 0..31) in byte qs[32*h + l] at bit offset 2*k.
void dequantize_row_q2_K(const block_q2_K* x, float* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK_K);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const float dmin = fp16_to_fp32(x[i].dmin);
    float* yb = y + i * QK_K;
    for (int e = 0; e < QK_K; ++e) {
      const int h = e / 128;
      const int k = (e / 32) % 4;
      const int l = e % 32;
      const std::uint8_t sc = x[i].scales[e / 16];
      const float dl = d * static_cast<float>(sc & 0x0f);
      const float ml = dmin * static_cast<float>(sc >> 4);
      const int q = (x[i].qs[32 * h + l] >> (2 * k)) & 3;
      yb[e] = dl * static_cast<float>(q) - ml;
    }
  }
}

void dequantize_row_q3_K(const block_q3_K* x, float* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK_K);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    std::int8_t scales[16];
    unpack_scales_q3_K(x[i].scales, scales);
    float* yb = y + i * QK_K;
    for (int e = 0; e < QK_K; ++e) {
      const int h = e / 128;
      const int k = (e / 32) % 4;
      const int l = e % 32;
      const float dl = d * static_cast<float>(scales[e / 16]);
      const int low = (x[i].qs[32 * h + l] >> (2 * k)) & 3;
      const bool high_bit = ((x[i].hmask[e % 32] >> (e / 32)) & 1) != 0;  // set: level low, else low - 4
      yb[e] = dl * static_cast<float>(low - (high_bit ? 0 : 4));
    }
  }
}

void dequantize_row_q4_K(const block_q4_K* x, float* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK_K);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const float dmin = fp16_to_fp32(x[i].dmin);
    float* yb = y + i * QK_K;
    // Sub-blocks 2h and 2h+1 share bytes qs[32h .. 32h+31]: low nibbles, then high nibbles.
    for (int sub = 0; sub < QK_K / 32; ++sub) {
      std::uint8_t sc = 0;
      std::uint8_t m = 0;
      unpack_scale_min_k4(sub, x[i].scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(m);
      const std::uint8_t* q = x[i].qs + 32 * (sub / 2);
      const int shift = 4 * (sub % 2);
      for (int l = 0; l < 32; ++l) {
        yb[32 * sub + l] = d1 * static_cast<float>((q[l] >> shift) & 0x0f) - m1;
      }
    }
  }
}

void dequantize_row_q5_K(const block_q5_K* x, float* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK_K);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const float dmin = fp16_to_fp32(x[i].dmin);
    float* yb = y + i * QK_K;
    // Low nibbles as in Q4_K; bit `sub` of qh[l] is the fifth bit of element 32*sub + l.
    for (int sub = 0; sub < QK_K / 32; ++sub) {
      std::uint8_t sc = 0;
      std::uint8_t m = 0;
      unpack_scale_min_k4(sub, x[i].scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(m);
      const std::uint8_t* q = x[i].qs + 32 * (sub / 2);
      const int shift = 4 * (sub % 2);
      for (int l = 0; l < 32; ++l) {
        const int high = ((x[i].qh[l] >> sub) & 1) << 4;
        yb[32 * sub + l] = d1 * static_cast<float>(((q[l] >> shift) & 0x0f) + high) - m1;
      }
    }
  }
}

void dequantize_row_q6_K(const block_q6_K* x, float* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK_K);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    float* yb = y + i * QK_K;
    // Element e = 128*h + 32*k + l: low 4 bits in ql[64h + 32*(k%2) + l] (low nibble for
    // k < 2, high nibble otherwise), high 2 bits in qh[32h + l] at bit offset 2k.
    for (int e = 0; e < QK_K; ++e) {
      const int h = e / 128;
      const int k = (e / 32) % 4;
      const int l = e % 32;
      const int low = (x[i].ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0x0f;
      const int high = (x[i].qh[32 * h + l] >> (2 * k)) & 3;
      const float dl = d * static_cast<float>(x[i].scales[e / 16]);
      yb[e] = dl * static_cast<float>((low | (high << 4)) - 32);
    }
  }
}

void dequantize_row_iq4_nl(const block_iq4_nl* x, float* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK4_NL);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < 16; ++j) {
      y[i * QK4_NL + j] = d * static_cast<float>(kIq4nlValues[x[i].qs[j] & 0x0f]);
      y[i * QK4_NL + j + 16] = d * static_cast<float>(kIq4nlValues[x[i].qs[j] >> 4]);
    }
  }
}

void quantize_row_q8_K(const float* x, block_q8_K* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK_K);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * QK_K;
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < QK_K; ++j) {
      if (std::fabs(xb[j]) > amax) {
        amax = std::fabs(xb[j]);
        max = xb[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&y[i], 0, sizeof(block_q8_K));
      continue;
    }
    // -127/max maps the largest magnitude to -127; the other sign may reach 127 only.
    const float iscale = -127.0f / max;
    for (int j = 0; j < QK_K; ++j) {
      y[i].qs[j] = static_cast<std::int8_t>(std::min(127, detail::nearest_int(iscale * xb[j])));
    }
    for (int s = 0; s < QK_K / 16; ++s) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += y[i].qs[16 * s + l];
      y[i].bsums[s] = static_cast<std::int16_t>(sum);
    }
    y[i].d = 1.0f / iscale;
  }
}

void dequantize_row_q8_K(const block_q8_K* x, float* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK_K);
  for (std::int64_t i = 0; i < nb; ++i) {
    for (int j = 0; j < QK_K; ++j) y[i * QK_K + j] = x[i].d * static_cast<float>(x[i].qs[j]);
  }
}

}  // namespace qrag::tensor
