// Scalar reference matmul: dequantizes weight and activation rows and sums in double.
#include <cstring>
#include <vector>

#include "kernels/dispatch.h"
#include "tensor/quantize.h"

namespace qrag::kernels {
namespace {

// tensor::quantize_row throws qrag::Error on a NaN or Inf activation.
void quantize_q8_0_ref(const float* x, void* out, std::int64_t n) {
  tensor::quantize_row(GgmlType::Q8_0, x, out, n);
}
void quantize_q8_1_ref(const float* x, void* out, std::int64_t n) {
  tensor::quantize_row(GgmlType::Q8_1, x, out, n);
}
void quantize_q8_k_ref(const float* x, void* out, std::int64_t n) {
  tensor::quantize_row(GgmlType::Q8_K, x, out, n);
}

// The reference value of every weight type: y[b][n] = sum_k deq(W)[n][k] * deq(x)[b][k],
// where deq(x) is the activation after the round trip through the activation type.
// Summing in double makes it the exact dot product of the two rounded operands to
// within about 1e-16 relative, so fast paths are judged on their own rounding.
void matmul_rows_ref(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  const WeightView& w = *args.w;
  const std::int64_t k = w.n_cols;
  const GgmlType act_type = args.act_type;
  const auto n_batch = static_cast<std::size_t>(args.n_batch);
  const auto ku = static_cast<std::size_t>(k);

  // xf: [n_batch][K] activations as F32; w_row: [K].
  std::vector<float> xf(n_batch * ku);
  const auto* x_bytes = static_cast<const std::byte*>(args.x);
  for (std::size_t b = 0; b < n_batch; ++b) {
    if (act_type == GgmlType::F32) {
      std::memcpy(&xf[b * ku], x_bytes + b * args.x_row_bytes, ku * sizeof(float));
    } else {
      tensor::dequantize_row(act_type, x_bytes + b * args.x_row_bytes, &xf[b * ku], k);
    }
  }

  std::vector<float> w_row(ku);
  const auto* w_bytes = static_cast<const std::byte*>(w.data);
  for (std::int64_t n = row_begin; n < row_end; ++n) {
    const std::byte* row = w_bytes + static_cast<std::size_t>(n) * w.row_bytes;
    if (w.type == GgmlType::F32) {
      std::memcpy(w_row.data(), row, ku * sizeof(float));
    } else {
      tensor::dequantize_row(w.type, row, w_row.data(), k);
    }
    for (std::size_t b = 0; b < n_batch; ++b) {
      const float* xb = &xf[b * ku];
      double sum = 0.0;
      for (std::size_t i = 0; i < ku; ++i) sum += static_cast<double>(w_row[i]) * xb[i];
      args.y[b * static_cast<std::size_t>(w.n_rows) + static_cast<std::size_t>(n)] = static_cast<float>(sum);
    }
  }
}

}  // namespace

void fill_scalar_matmul(KernelTable& table) {
  struct Entry {
    GgmlType weight;
    GgmlType act;
    QuantizeRowFn quantize;
  };
  // Activation pairing as in ggml: 32-wide types meet Q8_0 (Q8_1 when the weight
  // block has a minimum), K-quants meet Q8_K, float types meet F32.
  const Entry entries[] = {
      {GgmlType::F32, GgmlType::F32, nullptr},
      {GgmlType::F16, GgmlType::F32, nullptr},
      {GgmlType::BF16, GgmlType::F32, nullptr},
      {GgmlType::Q8_0, GgmlType::Q8_0, quantize_q8_0_ref},
      {GgmlType::Q4_0, GgmlType::Q8_0, quantize_q8_0_ref},
      {GgmlType::Q5_0, GgmlType::Q8_0, quantize_q8_0_ref},
      {GgmlType::IQ4_NL, GgmlType::Q8_0, quantize_q8_0_ref},
      {GgmlType::Q4_1, GgmlType::Q8_1, quantize_q8_1_ref},
      {GgmlType::Q5_1, GgmlType::Q8_1, quantize_q8_1_ref},
      {GgmlType::Q2_K, GgmlType::Q8_K, quantize_q8_k_ref},
      {GgmlType::Q3_K, GgmlType::Q8_K, quantize_q8_k_ref},
      {GgmlType::Q4_K, GgmlType::Q8_K, quantize_q8_k_ref},
      {GgmlType::Q5_K, GgmlType::Q8_K, quantize_q8_k_ref},
      {GgmlType::Q6_K, GgmlType::Q8_K, quantize_q8_k_ref},
  };
  for (const Entry& entry : entries) {
    table.matmul[static_cast<std::size_t>(entry.weight)] = {entry.act, entry.quantize, matmul_rows_ref};
  }
}

}  // namespace qrag::kernels
