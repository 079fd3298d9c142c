// Tests the traits table, the activation quantizers, round-trip accuracy and degenerate rows.
#include "tensor/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "tensor/fp16.h"
#include "tensor/quants.h"
#include "tensor/type_traits.h"

namespace qrag::tensor {
namespace {

const GgmlType kStorageTypes[] = {GgmlType::F32,  GgmlType::F16,   GgmlType::BF16, GgmlType::Q8_0,
                                  GgmlType::Q4_0, GgmlType::Q4_1,  GgmlType::Q5_0, GgmlType::Q5_1,
                                  GgmlType::Q2_K, GgmlType::Q3_K,  GgmlType::Q4_K, GgmlType::Q5_K,
                                  GgmlType::Q6_K, GgmlType::IQ4_NL};

std::vector<float> gaussian(std::size_t n, unsigned seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

std::vector<float> round_trip(GgmlType type, const std::vector<float>& x, const float* importance = nullptr) {
  const auto n = static_cast<std::int64_t>(x.size());
  std::vector<std::uint8_t> bytes(gguf::row_size(type, n));
  quantize_row(type, x.data(), bytes.data(), n, importance);
  std::vector<float> y(x.size());
  dequantize_row(type, bytes.data(), y.data(), n);
  return y;
}

double squared_error(const std::vector<float>& x, const std::vector<float>& y) {
  double sum = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) sum += (static_cast<double>(x[i]) - y[i]) * (x[i] - y[i]);
  return sum;
}

TEST(TypeTraits, LayoutMatchesGguf) {
  for (GgmlType type : kStorageTypes) {
    const TypeTraits& traits = type_traits(type);
    const gguf::GgmlTypeLayout& layout = gguf::type_layout(type);
    EXPECT_EQ(traits.type, type);
    EXPECT_EQ(traits.block_size, layout.block_size) << layout.name;
    EXPECT_EQ(traits.type_size, layout.type_size) << layout.name;
    EXPECT_NE(traits.to_float, nullptr) << layout.name;
    EXPECT_NE(traits.from_float, nullptr) << layout.name;
    EXPECT_TRUE(can_quantize(type)) << layout.name;
    EXPECT_TRUE(can_dequantize(type)) << layout.name;
  }
  for (GgmlType type : {GgmlType::Q8_1, GgmlType::Q8_K}) {
    EXPECT_EQ(type_traits(type).type_size, gguf::type_layout(type).type_size);
    EXPECT_NE(type_traits(type).from_float, nullptr);
  }
}

TEST(TypeTraits, VecDotTypes) {
  const std::pair<GgmlType, GgmlType> expected[] = {
      {GgmlType::F32, GgmlType::F32},     {GgmlType::F16, GgmlType::F16},   {GgmlType::BF16, GgmlType::BF16},
      {GgmlType::Q4_0, GgmlType::Q8_0},   {GgmlType::Q5_0, GgmlType::Q8_0}, {GgmlType::Q8_0, GgmlType::Q8_0},
      {GgmlType::IQ4_NL, GgmlType::Q8_0}, {GgmlType::Q4_1, GgmlType::Q8_1}, {GgmlType::Q5_1, GgmlType::Q8_1},
      {GgmlType::Q2_K, GgmlType::Q8_K},   {GgmlType::Q3_K, GgmlType::Q8_K}, {GgmlType::Q4_K, GgmlType::Q8_K},
      {GgmlType::Q5_K, GgmlType::Q8_K},   {GgmlType::Q6_K, GgmlType::Q8_K},
  };
  for (const auto& [weight, activation] : expected) {
    EXPECT_EQ(type_traits(weight).vec_dot_type, activation) << gguf::type_name(weight);
  }
}

TEST(TypeTraits, WeightedOnlyWhereSupported) {
  for (GgmlType type : kStorageTypes) {
    const bool weighted = type == GgmlType::Q4_0 || type == GgmlType::IQ4_NL || type == GgmlType::Q2_K ||
                          type == GgmlType::Q3_K || type == GgmlType::Q4_K || type == GgmlType::Q5_K ||
                          type == GgmlType::Q6_K;
    EXPECT_EQ(type_traits(type).from_float_weighted != nullptr, weighted) << gguf::type_name(type);
  }
}

TEST(TypeTraits, UnsupportedTypeRejected) {
  EXPECT_EQ(type_traits(GgmlType::IQ2_XXS).to_float, nullptr);
  EXPECT_EQ(type_traits(GgmlType::IQ2_XXS).type_size, gguf::type_layout(GgmlType::IQ2_XXS).type_size);
  EXPECT_FALSE(can_quantize(GgmlType::IQ2_XXS));
  std::vector<float> x(256, 1.0f);
  std::vector<std::uint8_t> out(1024);
  EXPECT_THROW(quantize_row(GgmlType::IQ2_XXS, x.data(), out.data(), 256), Error);
  EXPECT_THROW(dequantize_row(GgmlType::IQ2_XXS, out.data(), x.data(), 256), Error);
}

TEST(QuantizeRow, RejectsPartialBlock) {
  std::vector<float> x(48, 1.0f);
  std::vector<std::uint8_t> out(64);
  EXPECT_THROW(quantize_row(GgmlType::Q4_0, x.data(), out.data(), 48), Error);
  EXPECT_THROW(dequantize_row(GgmlType::Q4_K, out.data(), x.data(), 48), Error);
  EXPECT_NO_THROW(quantize_row(GgmlType::F16, x.data(), out.data(), 31));
}

TEST(QuantizeRow, RejectsNanAndInf) {
  std::vector<float> x(32, 1.0f);
  std::vector<std::uint8_t> out(64);
  x[4] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(quantize_row(GgmlType::Q8_0, x.data(), out.data(), 32), Error);
  x[4] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(quantize_row(GgmlType::BF16, x.data(), out.data(), 32), Error);
}

TEST(Q8_1, MatchesDefinition) {
  const std::vector<float> x = gaussian(4 * QK8_1, 3);
  std::vector<block_q8_1> y(4);
  quantize_row_q8_1(x.data(), y.data(), static_cast<std::int64_t>(x.size()));
  for (int b = 0; b < 4; ++b) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_1; ++j) amax = std::max(amax, std::fabs(x[b * QK8_1 + j]));
    const float d = amax / 127.0f;
    int sum = 0;
    for (int j = 0; j < QK8_1; ++j) {
      // ggml scales by the reciprocal and rounds halves away from zero.
      const auto expected = static_cast<int>(std::round(x[b * QK8_1 + j] * (1.0f / d)));
      EXPECT_EQ(y[b].qs[j], expected) << "block " << b << " element " << j;
      sum += y[b].qs[j];
    }
    EXPECT_EQ(y[b].d, fp32_to_fp16(d));
    EXPECT_EQ(y[b].s, fp32_to_fp16(d * static_cast<float>(sum)));
  }
}

TEST(Q8_K, MatchesDefinition) {
  std::vector<float> x = gaussian(2 * QK_K, 5);
  x[17] = -9.0f;  // the largest magnitude maps to -127, so d = -(-9)/127 is positive
  x[QK_K + 3] = 9.0f;
  std::vector<block_q8_K> y(2);
  quantize_row_q8_K(x.data(), y.data(), static_cast<std::int64_t>(x.size()));
  EXPECT_FLOAT_EQ(y[0].d, 9.0f / 127.0f);
  EXPECT_EQ(y[0].qs[17], -127);
  EXPECT_FLOAT_EQ(y[1].d, -9.0f / 127.0f);
  EXPECT_EQ(y[1].qs[3], -127);
  for (int b = 0; b < 2; ++b) {
    for (int s = 0; s < QK_K / 16; ++s) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += y[b].qs[16 * s + l];
      EXPECT_EQ(y[b].bsums[s], sum) << "block " << b << " group " << s;
    }
    for (int j = 0; j < QK_K; ++j) {
      // |x - d*q| <= d/2, plus one rounding of x * (1/d) (relative 2^-24 of 127 steps).
      const float tolerance = std::fabs(y[b].d) * (0.5f + 127.0f * 0x1p-23f);
      EXPECT_NEAR(x[b * QK_K + j], y[b].d * y[b].qs[j], tolerance);
    }
  }
}

TEST(Q8_K, ZeroBlockIsAllZero) {
  std::vector<float> x(QK_K, 0.0f);
  block_q8_K y;
  std::memset(&y, 0x5a, sizeof(y));
  quantize_row_q8_K(x.data(), &y, QK_K);
  EXPECT_EQ(y.d, 0.0f);
  for (std::int8_t q : y.qs) EXPECT_EQ(q, 0);
  for (std::int16_t s : y.bsums) EXPECT_EQ(s, 0);
}

TEST(Q8_0, ErrorWithinHalfStep) {
  const std::vector<float> x = gaussian(7 * QK8_0, 9, 3.0f);
  const std::vector<float> y = round_trip(GgmlType::Q8_0, x);
  for (std::size_t b = 0; b < x.size() / QK8_0; ++b) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; ++j) amax = std::max(amax, std::fabs(x[b * QK8_0 + j]));
    const float d = amax / 127.0f;
    const float dq = fp16_to_fp32(fp32_to_fp16(d));
    // Rounding to the step d costs d/2; storing d as F16 moves level 127 by 127*|d - dq|.
    const float tolerance = d / 2 + 127.0f * std::fabs(d - dq) + amax * 0x1p-22f;
    for (int j = 0; j < QK8_0; ++j) {
      EXPECT_NEAR(x[b * QK8_0 + j], y[b * QK8_0 + j], tolerance) << "block " << b << " element " << j;
    }
  }
}

// More bits never lose accuracy on the same Gaussian row, across row lengths.
TEST(RoundTrip, ErrorFallsWithBits) {
  const GgmlType by_bits[] = {GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K,
                              GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::F16,  GgmlType::F32};
  for (int n_blocks : {1, 2, 3, 5}) {
    const std::vector<float> x = gaussian(static_cast<std::size_t>(n_blocks) * QK_K, 20 + n_blocks);
    double previous = std::numeric_limits<double>::infinity();
    for (GgmlType type : by_bits) {
      const double error = squared_error(x, round_trip(type, x));
      EXPECT_LT(error, previous) << gguf::type_name(type) << " with " << n_blocks << " super-blocks";
      previous = error;
    }
    EXPECT_EQ(previous, 0.0);
  }
}

TEST(RoundTrip, LegacyTypesOrderedByBits) {
  for (int n_blocks : {1, 2, 3, 5, 7, 15, 16, 17}) {
    const std::vector<float> x = gaussian(static_cast<std::size_t>(n_blocks) * 32, 40 + n_blocks);
    const double q4_0 = squared_error(x, round_trip(GgmlType::Q4_0, x));
    EXPECT_LT(squared_error(x, round_trip(GgmlType::Q5_0, x)), q4_0) << n_blocks;
    EXPECT_LT(squared_error(x, round_trip(GgmlType::Q5_1, x)),
              squared_error(x, round_trip(GgmlType::Q4_1, x)));
    EXPECT_LT(squared_error(x, round_trip(GgmlType::Q8_0, x)), q4_0);
    EXPECT_GT(q4_0, 0.0);
  }
}

TEST(Degenerate, ZeroRowStaysZero) {
  const std::vector<float> x(2 * QK_K, 0.0f);
  for (GgmlType type : kStorageTypes) {
    for (float v : round_trip(type, x)) ASSERT_EQ(v, 0.0f) << gguf::type_name(type);
  }
}

TEST(Degenerate, ConstantRowKept) {
  const std::vector<float> x(QK_K, 0.25f);
  for (GgmlType type : kStorageTypes) {
    // 0.25 is exact in F16 and BF16; every stored scale is one F16 (or BF16) rounding
    // away from its exact value, so the error stays within a few 2^-9 relative.
    for (float v : round_trip(type, x)) ASSERT_NEAR(v, 0.25f, 0.25f * 4 * 0x1p-9f) << gguf::type_name(type);
  }
}

TEST(Degenerate, TinyAndHugeRowsFinite) {
  std::vector<float> tiny = gaussian(QK_K, 60, 1e-7f);
  std::vector<float> huge(QK_K);
  for (std::size_t i = 0; i < huge.size(); ++i)
    huge[i] = (i % 2 == 0 ? 1000.0f : -1000.0f) * (1 + 0.001f * i);
  for (GgmlType type : kStorageTypes) {
    for (const auto* row : {&tiny, &huge}) {
      float amax = 0.0f;
      for (float v : *row) amax = std::max(amax, std::fabs(v));
      // Scales below the F16 subnormal step 2^-24 round by up to half that step, and a
      // value is at most 127 * 32 (Q6_K's largest scale times level) such steps.
      const float bound = 2 * amax + 127 * 32 * 0x1p-25f;
      for (float v : round_trip(type, *row)) {
        ASSERT_TRUE(std::isfinite(v)) << gguf::type_name(type);
        ASSERT_LE(std::fabs(v), bound) << gguf::type_name(type);
      }
    }
  }
}

TEST(Degenerate, ScaleOverflowRejected) {
  std::vector<float> x(QK_K, 1.0f);
  x[3] = 1e6f;  // Q4_0's block scale 1e6/8 exceeds the F16 maximum 65504
  std::vector<std::uint8_t> out(gguf::row_size(GgmlType::Q4_0, QK_K));
  try {
    quantize_tensor(GgmlType::Q4_0, x.data(), 1, QK_K, out.data(), nullptr, "big", nullptr);
    FAIL() << "expected qrag::Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("tensor 'big': row 0: values up to"), std::string::npos)
        << error.what();
  }
  std::vector<std::uint8_t> q8(gguf::row_size(GgmlType::Q8_0, QK_K));
  EXPECT_NO_THROW(quantize_row(GgmlType::Q8_0, x.data(), q8.data(), QK_K));  // 1e6/127 fits
  std::vector<std::uint8_t> f16(gguf::row_size(GgmlType::F16, QK_K));
  EXPECT_THROW(quantize_row(GgmlType::F16, x.data(), f16.data(), QK_K), Error);  // above 65504
  std::vector<std::uint8_t> q8_k(gguf::row_size(GgmlType::Q8_K, QK_K));
  EXPECT_NO_THROW(quantize_row(GgmlType::Q8_K, x.data(), q8_k.data(), QK_K));  // F32 scale
}

}  // namespace
}  // namespace qrag::tensor
