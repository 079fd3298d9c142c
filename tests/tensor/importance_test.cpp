// Tests importance-weighted quantization on the golden inputs: it never loses to the plain quantizer.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tensor/golden_quant.h"
#include "tensor/quantize.h"

namespace qrag::tensor {
namespace {

const GgmlType kWeightedTypes[] = {GgmlType::Q4_0, GgmlType::IQ4_NL, GgmlType::Q2_K, GgmlType::Q3_K,
                                   GgmlType::Q4_K, GgmlType::Q5_K,   GgmlType::Q6_K};

// Round trip of x [n_rows][n_per_row] through `type`, with per-column importance or null.
std::vector<float> round_trip(GgmlType type, const std::vector<float>& x, std::int64_t n_rows,
                              std::int64_t n_per_row, const float* importance) {
  const std::size_t row_bytes = gguf::row_size(type, n_per_row);
  std::vector<std::uint8_t> bytes(n_rows * row_bytes);
  quantize_tensor(type, x.data(), n_rows, n_per_row, bytes.data(), importance, "golden", nullptr);
  std::vector<float> y(x.size());
  for (std::int64_t r = 0; r < n_rows; ++r) {
    dequantize_row(type, bytes.data() + r * row_bytes, y.data() + r * n_per_row, n_per_row);
  }
  return y;
}

// sum over rows and columns of importance[column] * (x - y)^2.
double weighted_error(const std::vector<float>& x, const std::vector<float>& y,
                      const std::vector<float>& importance) {
  double sum = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double diff = static_cast<double>(x[i]) - y[i];
    sum += importance[i % importance.size()] * diff * diff;
  }
  return sum;
}

// Column weights spanning three orders of magnitude, like the mean squared activations
// of an importance matrix: a few hot columns and many cold ones.
std::vector<float> skewed_importance(std::int64_t n) {
  std::vector<float> w(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    w[i] = static_cast<float>(std::exp(3.5 * std::sin(0.37 * static_cast<double>(i)) - 1.0));
  }
  return w;
}

TEST(Importance, SkewedNotWorseThanPlain) {
  const auto& set = testing::golden_set();
  if (!set) GTEST_SKIP() << "needs ../shared/goldens/quant/quant-reference.json";
  const std::vector<float> importance = skewed_importance(set->n_per_row);
  for (GgmlType type : kWeightedTypes) {
    double plain_total = 0.0;
    double weighted_total = 0.0;
    for (const auto& [name, x] : set->inputs) {
      const double plain =
          weighted_error(x, round_trip(type, x, set->n_rows, set->n_per_row, nullptr), importance);
      const double weighted =
          weighted_error(x, round_trip(type, x, set->n_rows, set->n_per_row, importance.data()), importance);
      EXPECT_LE(weighted, plain) << gguf::type_name(type) << " on " << name;
      plain_total += plain;
      weighted_total += weighted;
    }
    // The importance must actually steer the search, not only fall back to the plain result.
    EXPECT_LT(weighted_total, plain_total) << gguf::type_name(type);
  }
}

TEST(Importance, UniformNotWorseThanNone) {
  const auto& set = testing::golden_set();
  if (!set) GTEST_SKIP() << "needs ../shared/goldens/quant/quant-reference.json";
  for (float level : {1.0f, 0.02f, 37.0f}) {
    const std::vector<float> uniform(static_cast<std::size_t>(set->n_per_row), level);
    for (GgmlType type : kWeightedTypes) {
      for (const auto& [name, x] : set->inputs) {
        const double none =
            weighted_error(x, round_trip(type, x, set->n_rows, set->n_per_row, nullptr), uniform);
        const double with_uniform =
            weighted_error(x, round_trip(type, x, set->n_rows, set->n_per_row, uniform.data()), uniform);
        EXPECT_LE(with_uniform, none) << gguf::type_name(type) << " on " << name << " at weight " << level;
      }
    }
  }
}

TEST(Importance, ZeroWeightsStayFinite) {
  const auto& set = testing::golden_set();
  if (!set) GTEST_SKIP() << "needs ../shared/goldens/quant/quant-reference.json";
  // Zero importance on every other block of 32 columns, as for never-activated inputs.
  std::vector<float> importance(static_cast<std::size_t>(set->n_per_row), 1.0f);
  for (std::size_t i = 0; i < importance.size(); ++i) {
    if ((i / 32) % 2 == 1) importance[i] = 0.0f;
  }
  for (GgmlType type : kWeightedTypes) {
    const std::vector<float>& x = set->inputs.at("heavy_tail_outliers");
    for (float v : round_trip(type, x, set->n_rows, set->n_per_row, importance.data())) {
      ASSERT_TRUE(std::isfinite(v)) << gguf::type_name(type);
    }
  }
}

}  // namespace
}  // namespace qrag::tensor
