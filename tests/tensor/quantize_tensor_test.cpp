// Tests quantize_tensor: row checks with tensor and row in the message, and thread-count independence.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "tensor/quantize.h"

namespace qrag::tensor {
namespace {

std::vector<float> gaussian(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

// The message of the qrag::Error that fn throws, or "" when it throws none.
template <typename Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(QuantizeTensor, NanNamesTensorAndRow) {
  const std::int64_t n_rows = 5;
  const std::int64_t n_per_row = 64;
  std::vector<float> x = gaussian(n_rows * n_per_row, 1);
  x[3 * n_per_row + 17] = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::uint8_t> out(n_rows * gguf::row_size(GgmlType::Q4_0, n_per_row));
  const std::string message = error_message([&] {
    quantize_tensor(GgmlType::Q4_0, x.data(), n_rows, n_per_row, out.data(), nullptr, "blk.0.ffn_up.weight",
                    nullptr);
  });
  EXPECT_EQ(message.rfind("tensor 'blk.0.ffn_up.weight': row 3: element 17 is NaN", 0), 0u) << message;
}

TEST(QuantizeTensor, InfReportedForFirstBadRowWithThreads) {
  const std::int64_t n_rows = 12;
  const std::int64_t n_per_row = 256;
  std::vector<float> x = gaussian(n_rows * n_per_row, 2);
  x[10 * n_per_row + 1] = -std::numeric_limits<float>::infinity();
  x[5 * n_per_row + 200] = std::numeric_limits<float>::infinity();
  std::vector<std::uint8_t> out(n_rows * gguf::row_size(GgmlType::Q4_K, n_per_row));
  core::ThreadPool pool(3);
  const std::string message = error_message(
      [&] { quantize_tensor(GgmlType::Q4_K, x.data(), n_rows, n_per_row, out.data(), nullptr, "w", &pool); });
  EXPECT_EQ(message.rfind("tensor 'w': row 5: element 200 is Inf", 0), 0u) << message;
}

TEST(QuantizeTensor, RejectsBadShapeAndType) {
  std::vector<float> x(172 * 2, 1.0f);
  std::vector<std::uint8_t> out(4096);
  const std::string shape = error_message(
      [&] { quantize_tensor(GgmlType::Q4_0, x.data(), 2, 172, out.data(), nullptr, "ffn", nullptr); });
  EXPECT_NE(shape.find("tensor 'ffn': row length 172 is not a positive multiple of the q4_0 block size 32"),
            std::string::npos)
      << shape;
  const std::string type = error_message(
      [&] { quantize_tensor(GgmlType::IQ2_XXS, x.data(), 1, 256, out.data(), nullptr, "ffn", nullptr); });
  EXPECT_NE(type.find("tensor 'ffn': type iq2_xxs cannot be quantized"), std::string::npos) << type;
}

TEST(QuantizeTensor, RejectsNegativeImportance) {
  std::vector<float> x(64, 1.0f);
  std::vector<float> importance(64, 1.0f);
  importance[9] = -1.0f;
  std::vector<std::uint8_t> out(gguf::row_size(GgmlType::Q4_K, 256));
  const std::string message = error_message(
      [&] { quantize_tensor(GgmlType::Q4_0, x.data(), 1, 64, out.data(), importance.data(), "w", nullptr); });
  EXPECT_NE(message.find("tensor 'w': importance weight 9 is -1"), std::string::npos) << message;
}

TEST(QuantizeTensor, SameBytesForAnyThreadCount) {
  const std::int64_t n_rows = 37;
  const std::int64_t n_per_row = 512;
  const std::vector<float> x = gaussian(n_rows * n_per_row, 3);
  std::vector<float> importance = gaussian(n_per_row, 4);
  for (float& w : importance) w = w * w;
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::F16}) {
    const std::size_t row_bytes = gguf::row_size(type, n_per_row);
    // Reference: one quantize_row call per row.
    std::vector<std::uint8_t> expected(n_rows * row_bytes);
    for (std::int64_t r = 0; r < n_rows; ++r) {
      quantize_row(type, x.data() + r * n_per_row, expected.data() + r * row_bytes, n_per_row,
                   importance.data());
    }
    for (int n_threads : {1, 2, 3, 5}) {
      core::ThreadPool pool(n_threads);
      std::vector<std::uint8_t> out(n_rows * row_bytes, 0xee);
      quantize_tensor(type, x.data(), n_rows, n_per_row, out.data(), importance.data(), "w", &pool);
      EXPECT_EQ(out, expected) << gguf::type_name(type) << " with " << n_threads << " threads";
    }
  }
}

TEST(QuantizeTensor, NullPoolAndEmptyTensor) {
  std::vector<float> x = gaussian(64, 5);
  std::vector<std::uint8_t> out(2 * gguf::row_size(GgmlType::Q8_0, 32));
  EXPECT_NO_THROW(quantize_tensor(GgmlType::Q8_0, x.data(), 2, 32, out.data(), nullptr, "w", nullptr));
  EXPECT_NO_THROW(quantize_tensor(GgmlType::Q8_0, x.data(), 0, 32, out.data(), nullptr, "w", nullptr));
  std::vector<float> y(32);
  dequantize_row(GgmlType::Q8_0, out.data(), y.data(), 32);
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  for (int j = 0; j < 32; ++j) EXPECT_NEAR(y[j], x[j], amax / 127) << j;  // one Q8_0 step
}

}  // namespace
}  // namespace qrag::tensor
