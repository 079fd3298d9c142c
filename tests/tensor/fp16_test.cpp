// Tests the half and bfloat16 conversions against brute-force nearest-value searches.
#include "tensor/fp16.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace qrag::tensor {
namespace {

static_assert(fp32_to_fp16(1.0f) == 0x3c00);
static_assert(fp16_to_fp32(0xc000) == -2.0f);
static_assert(fp32_to_bf16(1.0f) == 0x3f80);

// Value of a half from its fields, computed in double.
double half_value(std::uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  const double sign = (h & 0x8000) != 0 ? -1.0 : 1.0;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 0x1f) return mantissa == 0 ? sign * std::numeric_limits<double>::infinity() : std::nan("");
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

// Round-to-nearest-even half of a finite float by search over the sorted
// non-negative finite halves (0x0000..0x7bff); from 65520 up the result is infinity.
std::uint16_t nearest_half(float f) {
  const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(f));
  if (a >= 65520.0) return sign | 0x7c00;
  std::uint16_t lo = 0;
  std::uint16_t hi = 0x7bff;
  while (hi - lo > 1) {  // invariant: half_value(lo) <= a <= half_value(hi)
    const auto mid = static_cast<std::uint16_t>((lo + hi) / 2);
    if (half_value(mid) <= a) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  if (a >= half_value(hi)) return sign | hi;
  const double below = a - half_value(lo);
  const double above = half_value(hi) - a;
  if (below < above) return sign | lo;
  if (above < below) return sign | hi;
  return sign | ((lo & 1) == 0 ? lo : hi);
}

std::uint16_t nearest_bf16(float f) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  const auto lo = static_cast<std::uint16_t>(bits >> 16);
  const auto hi = static_cast<std::uint16_t>(lo + 1);
  auto value = [](std::uint16_t b) {  // the pattern after the largest finite counts as 2^128
    const double v = static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16));
    return std::isinf(v) ? std::copysign(std::ldexp(1.0, 128), v) : v;
  };
  const double below = std::fabs(static_cast<double>(f) - value(lo));
  const double above = std::fabs(value(hi) - static_cast<double>(f));
  if (below < above) return lo;
  if (above < below) return hi;
  return (lo & 1) == 0 ? lo : hi;
}

// Floats around every half: the half itself, the midpoint to the next half, and the
// floats one ulp either side of that midpoint (covers ties, subnormals and overflow).
std::vector<float> half_boundary_floats() {
  std::vector<float> out;
  for (std::uint32_t h = 0; h < 0x7c00; ++h) {
    const double v = half_value(static_cast<std::uint16_t>(h));
    const double next = h + 1 < 0x7c00 ? half_value(static_cast<std::uint16_t>(h + 1)) : 65536.0;
    const auto mid = static_cast<float>((v + next) / 2);
    for (float f : {static_cast<float>(v), mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f)}) {
      out.push_back(f);
      out.push_back(-f);
    }
  }
  return out;
}

TEST(Fp16, DecodesEveryHalf) {
  for (std::uint32_t h = 0; h <= 0xffff; ++h) {
    const auto bits = static_cast<std::uint16_t>(h);
    const float f = fp16_to_fp32(bits);
    const double expected = half_value(bits);
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << h;
      continue;
    }
    EXPECT_EQ(static_cast<double>(f), expected) << std::hex << h;
    EXPECT_EQ(std::signbit(f), (h & 0x8000) != 0) << std::hex << h;
  }
}

TEST(Fp16, RoundTripsEveryHalf) {
  for (std::uint32_t h = 0; h <= 0xffff; ++h) {
    const auto bits = static_cast<std::uint16_t>(h);
    if (std::isnan(fp16_to_fp32(bits))) continue;
    EXPECT_EQ(fp32_to_fp16(fp16_to_fp32(bits)), bits) << std::hex << h;
  }
}

TEST(Fp16, RoundsTiesToEven) {
  for (float f : half_boundary_floats()) {
    ASSERT_EQ(fp32_to_fp16(f), nearest_half(f)) << f;
  }
}

TEST(Fp16, RoundsRandomFloats) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::uint32_t> bits;
  int checked = 0;
  while (checked < 200000) {
    const float f = std::bit_cast<float>(bits(rng));
    if (!std::isfinite(f)) continue;
    ASSERT_EQ(fp32_to_fp16(f), nearest_half(f)) << f;
    ++checked;
  }
}

TEST(Fp16, OverflowAndSpecials) {
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65519.996f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(1e30f), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // tie to even zero
  EXPECT_EQ(fp32_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  const std::uint16_t nan = fp32_to_fp16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x0200, 0) << "NaN must stay quiet";
  const float signaling = std::bit_cast<float>(0x7f800001u);
  EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(signaling))));
}

TEST(Bf16, RoundsLikeBruteForce) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<std::uint32_t> bits;
  int checked = 0;
  while (checked < 200000) {
    // Half of the samples sit exactly on a tie (low 16 bits 0x8000).
    std::uint32_t b = bits(rng);
    if (checked % 2 == 0) b = (b & 0xffff0000u) | 0x8000u;
    const float f = std::bit_cast<float>(b);
    if (!std::isfinite(f)) continue;
    ASSERT_EQ(fp32_to_bf16(f), nearest_bf16(f)) << std::hex << b;
    ++checked;
  }
}

TEST(Bf16, RoundTripsEveryBf16) {
  for (std::uint32_t h = 0; h <= 0xffff; ++h) {
    const auto bits = static_cast<std::uint16_t>(h);
    const float f = bf16_to_fp32(bits);
    EXPECT_EQ(std::bit_cast<std::uint32_t>(f), h << 16);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(f)))) << std::hex << h;
      EXPECT_NE(fp32_to_bf16(f) & 0x40, 0) << "NaN must stay quiet";
    } else {
      EXPECT_EQ(fp32_to_bf16(f), bits) << std::hex << h;
    }
  }
}

TEST(Bf16, NanNeverBecomesInfinity) {
  // A NaN whose payload lives only in the low 16 bits would round into the exponent.
  const float low_payload_nan = std::bit_cast<float>(0x7f800001u);
  const float rounded = bf16_to_fp32(fp32_to_bf16(low_payload_nan));
  EXPECT_TRUE(std::isnan(rounded));
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x7f7fffffu)), 0x7f80);  // max float rounds to infinity
}

}  // namespace
}  // namespace qrag::tensor
