// F16/BF16 rows and the 32-wide formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q8_1.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "tensor/fp16.h"
#include "tensor/quant_math.h"
#include "tensor/quants.h"

namespace qrag::tensor {
namespace {

using detail::clamp_int;
using detail::nearest_int;

std::int64_t block_count(std::int64_t n, int block_size) {
  QRAG_CHECK(n >= 0 && n % block_size == 0, "row length is not a multiple of the block size");
  return n / block_size;
}

// The element of largest magnitude (the first one on ties), with its sign.
float signed_absmax(const float* x, int n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void min_max(const float* x, int n, float* min_out, float* max_out) {
  float min = x[0];
  float max = x[0];
  for (int j = 1; j < n; ++j) {
    min = std::min(min, x[j]);
    max = std::max(max, x[j]);
  }
  *min_out = min;
  *max_out = max;
}

// Packs 5-bit codes q [32]: low nibbles of j and j+16 share qs[j], bit 4 of code j goes to bit j of qh.
void pack_5bit(const std::uint8_t* q, std::uint8_t* qs, std::uint8_t* qh_bytes) {
  std::uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<std::uint8_t>((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
    qh |= static_cast<std::uint32_t>(q[j] >> 4) << j;
    qh |= static_cast<std::uint32_t>(q[j + 16] >> 4) << (j + 16);
  }
  std::memcpy(qh_bytes, &qh, 4);  // little-endian, as in the file format
}

std::uint32_t load_qh(const std::uint8_t* qh_bytes) {
  std::uint32_t qh = 0;
  std::memcpy(&qh, qh_bytes, 4);
  return qh;
}

// Q4_0 block from scale d: codes nearest(x/d) + 8 clamped to 0..15; returns the weighted error.
double encode_q4_0_with_scale(const float* x, float d, const float* importance, block_q4_0* y) {
  y->d = fp32_to_fp16(d);
  const float dq = fp16_to_fp32(y->d);
  const float id = dq != 0.0f ? 1.0f / dq : 0.0f;
  double error = 0.0;
  for (int j = 0; j < 16; ++j) {
    const int l0 = clamp_int(nearest_int(x[j] * id), -8, 7);
    const int l1 = clamp_int(nearest_int(x[j + 16] * id), -8, 7);
    y->qs[j] = static_cast<std::uint8_t>((l0 + 8) | ((l1 + 8) << 4));
    const double e0 = x[j] - static_cast<float>(l0) * dq;
    const double e1 = x[j + 16] - static_cast<float>(l1) * dq;
    error += importance[j] * e0 * e0 + importance[j + 16] * e1 * e1;
  }
  return error;
}

// Importance-weighted Q4_0 block: the reference block plus a grid of scales around
// max/-8, each refitted by weighted least squares; keeps the lowest weighted error.
void quantize_block_q4_0_weighted(const float* x, const float* importance, block_q4_0* y) {
  quantize_row_q4_0(x, y, QK4_0);
  block_q4_0 reference = *y;
  float dequantized[QK4_0];
  dequantize_row_q4_0(&reference, dequantized, QK4_0);
  double best = detail::weighted_squared_error(x, dequantized, importance, QK4_0);

  const float max = signed_absmax(x, QK4_0);
  if (std::fabs(max) < detail::kGroupMaxEps) return;
  for (int step = -10; step <= 10; ++step) {
    const float id = -(8.0f + 0.1f * static_cast<float>(step)) / max;
    double sum_xl = 0.0;
    double sum_l2 = 0.0;
    for (int j = 0; j < QK4_0; ++j) {
      const int l = clamp_int(nearest_int(x[j] * id), -8, 7);
      sum_xl += static_cast<double>(importance[j]) * x[j] * l;
      sum_l2 += static_cast<double>(importance[j]) * l * l;
    }
    if (sum_l2 <= 0.0) continue;
    block_q4_0 candidate;
    const double error =
        encode_q4_0_with_scale(x, static_cast<float>(sum_xl / sum_l2), importance, &candidate);
    if (error < best) {
      best = error;
      *y = candidate;
    }
  }
}

}  // namespace

void quantize_row_f16(const float* x, f16_bits* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void dequantize_row_f16(const f16_bits* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

void quantize_row_bf16(const float* x, bf16_bits* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

void dequantize_row_bf16(const bf16_bits* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

void quantize_row_q4_0(const float* x, block_q4_0* y, std::int64_t n, const float* importance) {
  const std::int64_t nb = block_count(n, QK4_0);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * QK4_0;
    if (importance != nullptr) {
      quantize_block_q4_0_weighted(xb, importance + i * QK4_0, &y[i]);
      continue;
    }
    // d maps the element of largest magnitude to code 0 (level -8); truncating
    // x/d + 8.5 rounds half up, as ggml does.
    const float d = signed_absmax(xb, QK4_0) / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, static_cast<int>(xb[j] * id + 8.5f));
      const int q1 = std::min(15, static_cast<int>(xb[j + 16] * id + 8.5f));
      y[i].qs[j] = static_cast<std::uint8_t>(q0 | (q1 << 4));
    }
  }
}

void quantize_row_q4_1(const float* x, block_q4_1* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK4_1);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * QK4_1;
    float min = 0.0f;
    float max = 0.0f;
    min_max(xb, QK4_1, &min, &max);
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, static_cast<int>((xb[j] - min) * id + 0.5f));
      const int q1 = std::min(15, static_cast<int>((xb[j + 16] - min) * id + 0.5f));
      y[i].qs[j] = static_cast<std::uint8_t>(q0 | (q1 << 4));
    }
  }
}

void quantize_row_q5_0(const float* x, block_q5_0* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK5_0);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * QK5_0;
    const float d = signed_absmax(xb, QK5_0) / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    std::uint8_t q[QK5_0];
    for (int j = 0; j < QK5_0; ++j) {
      q[j] = static_cast<std::uint8_t>(std::min(31, static_cast<int>(xb[j] * id + 16.5f)));
    }
    pack_5bit(q, y[i].qs, y[i].qh);
  }
}

void quantize_row_q5_1(const float* x, block_q5_1* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK5_1);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * QK5_1;
    float min = 0.0f;
    float max = 0.0f;
    min_max(xb, QK5_1, &min, &max);
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    std::uint8_t q[QK5_1];
    for (int j = 0; j < QK5_1; ++j) {
      // (x - min) * id lies in [0, 31] up to rounding; the clamp only guards against that rounding.
      q[j] = static_cast<std::uint8_t>(std::min(31, static_cast<int>((xb[j] - min) * id + 0.5f)));
    }
    pack_5bit(q, y[i].qs, y[i].qh);
  }
}

void quantize_row_q8_0(const float* x, block_q8_0* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK8_0);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * QK8_0;
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < QK8_0; ++j) y[i].qs[j] = static_cast<std::int8_t>(std::round(xb[j] * id));
  }
}

void quantize_row_q8_1(const float* x, block_q8_1* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK8_1);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * QK8_1;
    float amax = 0.0f;
    for (int j = 0; j < QK8_1; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < QK8_1; ++j) {
      y[i].qs[j] = static_cast<std::int8_t>(std::round(xb[j] * id));
      sum += y[i].qs[j];
    }
    // s uses the unrounded F32 d, as ggml does.
    y[i].s = fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

void dequantize_row_q4_0(const block_q4_0* x, float* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK4_0);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < 16; ++j) {
      y[i * QK4_0 + j] = static_cast<float>((x[i].qs[j] & 0x0f) - 8) * d;
      y[i * QK4_0 + j + 16] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_row_q4_1(const block_q4_1* x, float* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK4_1);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    for (int j = 0; j < 16; ++j) {
      y[i * QK4_1 + j] = static_cast<float>(x[i].qs[j] & 0x0f) * d + m;
      y[i * QK4_1 + j + 16] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_row_q5_0(const block_q5_0* x, float* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK5_0);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const std::uint32_t qh = load_qh(x[i].qh);
    for (int j = 0; j < 16; ++j) {
      const int q0 = (x[i].qs[j] & 0x0f) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int q1 = (x[i].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      y[i * QK5_0 + j] = static_cast<float>(q0 - 16) * d;
      y[i * QK5_0 + j + 16] = static_cast<float>(q1 - 16) * d;
    }
  }
}

void dequantize_row_q5_1(const block_q5_1* x, float* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK5_1);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    const std::uint32_t qh = load_qh(x[i].qh);
    for (int j = 0; j < 16; ++j) {
      const int q0 = (x[i].qs[j] & 0x0f) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int q1 = (x[i].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      y[i * QK5_1 + j] = static_cast<float>(q0) * d + m;
      y[i * QK5_1 + j + 16] = static_cast<float>(q1) * d + m;
    }
  }
}

void dequantize_row_q8_0(const block_q8_0* x, float* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK8_0);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK8_0; ++j) y[i * QK8_0 + j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

void dequantize_row_q8_1(const block_q8_1* x, float* y, std::int64_t n) {
  const std::int64_t nb = block_count(n, QK8_1);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK8_1; ++j) y[i * QK8_1 + j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

}  // namespace qrag::tensor
