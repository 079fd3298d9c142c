// Scalar reference vector ops (norms, softmax, activations, F16 dot products) and the scalar table.
#include <algorithm>
#include <cmath>

#include "kernels/dispatch.h"
#include "tensor/fp16.h"

namespace qrag::kernels {
namespace {

// Sums of squares and exponentials accumulate in double, as ggml's norms do.
void rms_norm_ref(const float* x, const float* weight, float* out, std::int64_t n, float eps) {
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float inv = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(n)) + eps);
  for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * (weight != nullptr ? weight[i] : 1.0f);
}

void layer_norm_ref(const float* x, const float* weight, const float* bias, float* out, std::int64_t n,
                    float eps) {
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) sum += x[i];
  const auto mean = static_cast<float>(sum / static_cast<double>(n));
  double var = 0.0;
  for (std::int64_t i = 0; i < n; ++i) var += static_cast<double>(x[i] - mean) * (x[i] - mean);
  const float inv = 1.0f / std::sqrt(static_cast<float>(var / static_cast<double>(n)) + eps);
  for (std::int64_t i = 0; i < n; ++i) {
    float v = (x[i] - mean) * inv;
    if (weight != nullptr) v *= weight[i];
    if (bias != nullptr) v += bias[i];
    out[i] = v;
  }
}

void softmax_ref(float* x, std::int64_t n) {
  float max = -INFINITY;
  for (std::int64_t i = 0; i < n; ++i) max = std::max(max, x[i]);
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const auto inv = static_cast<float>(1.0 / sum);
  for (std::int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu_ref(const float* x, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void gelu_ref(const float* x, float* out, std::int64_t n) {
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  constexpr float kCoefA = 0.044715f;
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    out[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * v * (1.0f + kCoefA * v * v)));
  }
}

void gelu_erf_ref(const float* x, float* out, std::int64_t n) {
  constexpr float kInvSqrt2 = 0.70710678118654752440f;
  for (std::int64_t i = 0; i < n; ++i) out[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * kInvSqrt2));
}

void swiglu_ref(const float* gate, const float* up, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void add_ref(const float* a, const float* b, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void mul_ref(const float* a, const float* b, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

void scale_ref(const float* x, float s, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] * s;
}

// Each output is rounded from two separately rounded products (this file is built
// for the baseline x86-64 ISA, which has no FMA), and the SIMD versions take the
// same steps, so RoPE gives the same bits at every level.
void rope_rotate_ref(float* x, int n_heads, int head_dim, int half, RopeMode mode, const float* cos_theta,
                     const float* sin_theta) {
  const int stride = mode == RopeMode::kNeox ? 1 : 2;
  const int offset = mode == RopeMode::kNeox ? half : 1;
  for (int h = 0; h < n_heads; ++h) {
    float* head = x + static_cast<std::int64_t>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      float* a = head + i * stride;
      float* b = a + offset;
      const float x0 = *a;
      const float x1 = *b;
      *a = x0 * cos_theta[i] - x1 * sin_theta[i];
      *b = x0 * sin_theta[i] + x1 * cos_theta[i];
    }
  }
}

float dot_f16_ref(const f16_bits* k, const float* q, std::int64_t n) {
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(tensor::fp16_to_fp32(k[i])) * q[i];
  return static_cast<float>(sum);
}

void axpy_f16_ref(float a, const f16_bits* v, float* acc, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) acc[i] += a * tensor::fp16_to_fp32(v[i]);
}

void f32_to_f16_ref(const float* x, f16_bits* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = tensor::fp32_to_fp16(x[i]);
}

void round_to_f16_ref(const float* x, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = tensor::fp16_to_fp32(tensor::fp32_to_fp16(x[i]));
}

}  // namespace

void fill_scalar_table(KernelTable& table) {
  table.level = IsaLevel::kScalar;
  fill_scalar_matmul(table);
  table.rms_norm = rms_norm_ref;
  table.layer_norm = layer_norm_ref;
  table.softmax = softmax_ref;
  table.silu = silu_ref;
  table.gelu = gelu_ref;
  table.gelu_erf = gelu_erf_ref;
  table.swiglu = swiglu_ref;
  table.add = add_ref;
  table.mul = mul_ref;
  table.scale = scale_ref;
  table.rope_rotate = rope_rotate_ref;
  table.dot_f16 = dot_f16_ref;
  table.axpy_f16 = axpy_f16_ref;
  table.f32_to_f16 = f32_to_f16_ref;
  table.round_to_f16 = round_to_f16_ref;
}

}  // namespace qrag::kernels
