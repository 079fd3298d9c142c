// Checks dequantization and quantization against ggml's reference outputs.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "tensor/golden_quant.h"
#include "tensor/quantize.h"
#include "tensor/quants.h"
#include "tensor/type_traits.h"

namespace qrag::tensor {
namespace {

using testing::golden_set;
using testing::GoldenCase;
using testing::GoldenSet;

std::string label(const GoldenCase& c) {
  return std::string(gguf::type_name(c.type)) + " on " + c.input;
}

std::vector<float> dequantize_rows(GgmlType type, const std::vector<std::uint8_t>& bytes, std::int64_t n_rows,
                                   std::int64_t n_per_row) {
  const std::size_t row_bytes = gguf::row_size(type, n_per_row);
  std::vector<float> out(static_cast<std::size_t>(n_rows * n_per_row));
  for (std::int64_t r = 0; r < n_rows; ++r) {
    dequantize_row(type, bytes.data() + r * row_bytes, out.data() + r * n_per_row, n_per_row);
  }
  return out;
}

std::vector<std::uint8_t> quantize_rows(GgmlType type, const std::vector<float>& x, std::int64_t n_rows,
                                        std::int64_t n_per_row) {
  std::vector<std::uint8_t> out(n_rows * gguf::row_size(type, n_per_row));
  quantize_tensor(type, x.data(), n_rows, n_per_row, out.data(), nullptr, "golden", nullptr);
  return out;
}

// Index of the first float of `ours` that differs bitwise from `golden`, or -1. The
// goldens print -0 as 0 although their bytes carry the sign, so a golden zero matches
// either signed zero. Every other value must match bit for bit.
std::int64_t first_bit_mismatch(const std::vector<float>& ours, const std::vector<float>& golden) {
  for (std::size_t i = 0; i < ours.size(); ++i) {
    if (golden[i] == 0.0f && ours[i] == 0.0f) continue;
    if (std::bit_cast<std::uint32_t>(ours[i]) != std::bit_cast<std::uint32_t>(golden[i])) {
      return static_cast<std::int64_t>(i);
    }
  }
  return -1;
}

bool quantizer_is_reference(GgmlType type) {
  switch (type) {
    case GgmlType::F16:
    case GgmlType::BF16:
    case GgmlType::Q8_0:
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
      return true;
    default:
      return false;
  }
}

const GoldenSet* require_goldens() {
  const auto& set = golden_set();
  return set ? &*set : nullptr;
}

TEST(Golden, CoversEveryStorageType) {
  const GoldenSet* set = require_goldens();
  if (set == nullptr) GTEST_SKIP() << "needs ../shared/goldens/quant/quant-reference.json";
  std::set<GgmlType> types;
  for (const GoldenCase& c : set->cases) types.insert(c.type);
  for (GgmlType type : {GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1,
                        GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K,
                        GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_NL}) {
    EXPECT_TRUE(types.count(type)) << gguf::type_name(type);
  }
}

TEST(Golden, DequantizeIsBitExact) {
  const GoldenSet* set = require_goldens();
  if (set == nullptr) GTEST_SKIP() << "needs ../shared/goldens/quant/quant-reference.json";
  for (const GoldenCase& c : set->cases) {
    ASSERT_EQ(c.bytes.size(), set->n_rows * gguf::row_size(c.type, set->n_per_row)) << label(c);
    const std::vector<float> ours = dequantize_rows(c.type, c.bytes, set->n_rows, set->n_per_row);
    const std::int64_t at = first_bit_mismatch(ours, c.dequantized);
    EXPECT_EQ(at, -1) << label(c) << ": element " << at << " is " << (at >= 0 ? ours[at] : 0.0f)
                      << ", ggml gives " << (at >= 0 ? c.dequantized[at] : 0.0f);
  }
}

TEST(Golden, ReferenceQuantizersAreByteExact) {
  const GoldenSet* set = require_goldens();
  if (set == nullptr) GTEST_SKIP() << "needs ../shared/goldens/quant/quant-reference.json";
  int checked = 0;
  for (const GoldenCase& c : set->cases) {
    if (!quantizer_is_reference(c.type)) continue;
    const std::vector<std::uint8_t> ours =
        quantize_rows(c.type, set->inputs.at(c.input), set->n_rows, set->n_per_row);
    ASSERT_EQ(ours.size(), c.bytes.size()) << label(c);
    std::size_t at = 0;
    while (at < ours.size() && ours[at] == c.bytes[at]) ++at;
    EXPECT_EQ(at, ours.size()) << label(c) << ": first differing byte " << at;
    ++checked;
  }
  EXPECT_EQ(checked, 7 * 3);
}

// quantize_row_*_ref of the searched types, type-erased; null for the other types.
using RefQuantizer = void (*)(const float*, void*, std::int64_t);
template <typename Block, void (*Fn)(const float*, Block*, std::int64_t)>
void erase(const float* x, void* y, std::int64_t n) {
  Fn(x, static_cast<Block*>(y), n);
}

RefQuantizer reference_search(GgmlType type) {
  switch (type) {
    case GgmlType::Q2_K:
      return erase<block_q2_K, quantize_row_q2_K_ref>;
    case GgmlType::Q3_K:
      return erase<block_q3_K, quantize_row_q3_K_ref>;
    case GgmlType::Q4_K:
      return erase<block_q4_K, quantize_row_q4_K_ref>;
    case GgmlType::Q5_K:
      return erase<block_q5_K, quantize_row_q5_K_ref>;
    case GgmlType::Q6_K:
      return erase<block_q6_K, quantize_row_q6_K_ref>;
    case GgmlType::IQ4_NL:
      return erase<block_iq4_nl, quantize_row_iq4_nl_ref>;
    default:
      return nullptr;
  }
}

TEST(Golden, ReferenceSearchesAreByteExact) {
  const GoldenSet* set = require_goldens();
  if (set == nullptr) GTEST_SKIP() << "needs ../shared/goldens/quant/quant-reference.json";
  int checked = 0;
  for (const GoldenCase& c : set->cases) {
    const RefQuantizer quantize = reference_search(c.type);
    if (quantize == nullptr) continue;
    const std::vector<float>& x = set->inputs.at(c.input);
    std::vector<std::uint8_t> ours(c.bytes.size());
    const std::size_t row_bytes = gguf::row_size(c.type, set->n_per_row);
    for (std::int64_t r = 0; r < set->n_rows; ++r) {
      quantize(x.data() + r * set->n_per_row, ours.data() + r * row_bytes, set->n_per_row);
    }
    std::size_t at = 0;
    while (at < ours.size() && ours[at] == c.bytes[at]) ++at;
    EXPECT_EQ(at, ours.size()) << label(c) << ": first differing byte " << at;
    ++checked;
  }
  EXPECT_EQ(checked, 6 * 3);
}

// For the searched types the bytes may differ from ggml's, but the round trip must be
// at least as accurate as ggml's on every input, and finite everywhere.
TEST(Golden, SearchedQuantizersMatchReferenceError) {
  const GoldenSet* set = require_goldens();
  if (set == nullptr) GTEST_SKIP() << "needs ../shared/goldens/quant/quant-reference.json";
  int checked = 0;
  for (const GoldenCase& c : set->cases) {
    if (quantizer_is_reference(c.type)) continue;
    const std::vector<float>& x = set->inputs.at(c.input);
    const std::vector<std::uint8_t> ours = quantize_rows(c.type, x, set->n_rows, set->n_per_row);
    const std::vector<float> round_trip = dequantize_rows(c.type, ours, set->n_rows, set->n_per_row);
    for (std::size_t i = 0; i < round_trip.size(); ++i) {
      ASSERT_TRUE(std::isfinite(round_trip[i])) << label(c) << " element " << i;
    }
    const double ours_rmse = testing::rms_error(x, round_trip);
    const double golden_rmse = testing::rms_error(x, c.dequantized);
    EXPECT_LE(ours_rmse, golden_rmse) << label(c);
    // ggml's result is the first candidate of every block, so no single row may lose either.
    const auto row_length = static_cast<std::ptrdiff_t>(set->n_per_row);
    for (std::int64_t r = 0; r < set->n_rows; ++r) {
      const auto begin = static_cast<std::ptrdiff_t>(r) * row_length;
      const std::vector<float> x_row(x.begin() + begin, x.begin() + begin + row_length);
      const std::vector<float> ours_row(round_trip.begin() + begin, round_trip.begin() + begin + row_length);
      const std::vector<float> golden_row(c.dequantized.begin() + begin,
                                          c.dequantized.begin() + begin + row_length);
      EXPECT_LE(testing::rms_error(x_row, ours_row), testing::rms_error(x_row, golden_row))
          << label(c) << " row " << r;
    }
    std::size_t same_bytes = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) same_bytes += ours[i] == c.bytes[i] ? 1 : 0;
    std::printf("%-7s %-24s rmse ours %.6g ggml %.6g, %zu of %zu bytes as ggml\n",
                std::string(gguf::type_name(c.type)).c_str(), c.input.c_str(), ours_rmse, golden_rmse,
                same_bytes, ours.size());
    ++checked;
  }
  EXPECT_EQ(checked, 6 * 3);
}

}  // namespace
}  // namespace qrag::tensor
