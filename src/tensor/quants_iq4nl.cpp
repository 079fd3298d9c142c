// Quantizer of IQ4_NL: 32-wide blocks of 4-bit indices into a fixed non-linear table.
#include <array>
#include <cmath>

#include "tensor/fp16.h"
#include "tensor/quant_math.h"
#include "tensor/quants.h"

namespace qrag::tensor {
namespace {

// kUpperIndex[k + 127] is the first table index whose value exceeds k, for the integer
// parts k = -127..112 of values strictly inside the table's range.
constexpr auto kUpperIndex = [] {
  std::array<std::uint8_t, 240> upper{};
  for (int k = -127; k <= 112; ++k) {
    int i = 0;
    while (kIq4nlValues[i] <= k) ++i;
    upper[k + 127] = static_cast<std::uint8_t>(i);
  }
  return upper;
}();

// Index of the table value nearest to v (the upper one on ties). kUpperIndex gives the
// bracket because the table values are integers. The final comparison is the same F32
// arithmetic as ggml's bisection, so the choice is identical.
int nearest_iq4nl_index(float v) {
  if (v <= kIq4nlValues[0]) return 0;
  if (v >= kIq4nlValues[15]) return 15;
  const int hi = kUpperIndex[static_cast<int>(std::floor(v)) + 127];
  return v - kIq4nlValues[hi - 1] < kIq4nlValues[hi] - v ? hi - 1 : hi;
}

// Weighted least squares of x [32] against the table values picked by scale 1/id:
// returns sum w*q*x and sum w*q^2.
void fit_table(const float* x, const float* weights, float id, float* sum_qx, float* sum_q2) {
  *sum_qx = 0.0f;
  *sum_q2 = 0.0f;
  for (int j = 0; j < QK4_NL; ++j) {
    const auto q = static_cast<float>(kIq4nlValues[nearest_iq4nl_index(id * x[j])]);
    const float w = weights[j];
    *sum_qx += w * q * x[j];
    *sum_q2 += w * q * q;
  }
}

// ggml's search (ntry = 7): starts with the largest magnitude on the table's end value
// -127, refits the scale by least squares, tries 15 grids around it, and keeps the scale
// with the best fit. Weights are x^2 when fit_weights is null.
void encode_iq4_nl(const float* x, const float* fit_weights, block_iq4_nl* y) {
  float weights[QK4_NL];
  for (int j = 0; j < QK4_NL; ++j) weights[j] = fit_weights != nullptr ? fit_weights[j] : x[j] * x[j];
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < QK4_NL; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }

  float d = 0.0f;
  if (amax >= detail::kGroupMaxEps) {
    constexpr int kTries = 7;
    d = -max / static_cast<float>(kIq4nlValues[0]);
    float sum_qx = 0.0f;
    float sum_q2 = 0.0f;
    fit_table(x, weights, 1.0f / d, &sum_qx, &sum_q2);
    if (sum_q2 > 0.0f) d = sum_qx / sum_q2;  // zero weights keep the initial scale
    float best = d * sum_qx;
    for (int step = -kTries; step <= kTries; ++step) {
      const float id = static_cast<float>(step + kIq4nlValues[0]) / max;
      fit_table(x, weights, id, &sum_qx, &sum_q2);
      if (sum_q2 > 0.0f && sum_qx * sum_qx > best * sum_q2) {
        d = sum_qx / sum_q2;
        best = d * sum_qx;
      }
    }
  }
  y->d = fp32_to_fp16(d);
  // Codes are chosen against the unrounded scale, as ggml does.
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < QK4_NL / 2; ++j) {
    const int lo = nearest_iq4nl_index(id * x[j]);
    const int hi = nearest_iq4nl_index(id * x[j + QK4_NL / 2]);
    y->qs[j] = static_cast<std::uint8_t>(lo | (hi << 4));
  }
}

void quantize_blocks(const float* x, block_iq4_nl* y, std::int64_t n, const float* importance,
                     bool reference_only) {
  QRAG_CHECK(n >= 0 && n % QK4_NL == 0, "row length is not a multiple of the IQ4_NL block size");
  for (std::int64_t i = 0; i < n / QK4_NL; ++i) {
    const float* xb = x + i * QK4_NL;
    const float* ib = importance != nullptr ? importance + i * QK4_NL : nullptr;
    const detail::FitWeightSets weight_sets(xb, ib, QK4_NL, reference_only);
    detail::keep_best_candidate(
        xb, QK4_NL, ib, weight_sets,
        [&](const float* w, block_iq4_nl* block) { encode_iq4_nl(xb, w, block); },
        [](const block_iq4_nl* block, float* out, int count) { dequantize_row_iq4_nl(block, out, count); },
        &y[i]);
  }
}

}  // namespace

void quantize_row_iq4_nl(const float* x, block_iq4_nl* y, std::int64_t n, const float* importance) {
  quantize_blocks(x, y, n, importance, false);
}

void quantize_row_iq4_nl_ref(const float* x, block_iq4_nl* y, std::int64_t n) {
  quantize_blocks(x, y, n, nullptr, true);
}

}  // namespace qrag::tensor
