// Helpers shared by the kernel tests: ISA levels to test, random data and tolerance checks.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "kernels/dispatch.h"
#include "kernels/kernels.h"

namespace qrag::kernels::test {

// Silences the per-context info line ("kernels: ISA level ...") in test output.
class QuietLogs : public ::testing::Environment {
 public:
  void SetUp() override { spdlog::set_level(spdlog::level::warn); }
};

// F32 unit roundoff (2^-24).
inline constexpr double kUnitRoundoff = 5.9604644775390625e-08;

// The SIMD levels this CPU runs (the scalar level is the reference).
inline std::vector<IsaLevel> simd_levels() {
  std::vector<IsaLevel> levels;
  for (IsaLevel level : {IsaLevel::kAvx2, IsaLevel::kAvx512}) {
    if (isa_available(level)) levels.push_back(level);
  }
  return levels;
}

// n values uniform in [-scale, scale).
inline std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Checks |actual[i] - expected[i]| <= tolerance[i] for every i and reports the
// worst violation (largest error / tolerance) with its index.
inline ::testing::AssertionResult all_within(const std::vector<float>& expected, const std::vector<float>& actual,
                                            const std::vector<double>& tolerance) {
  if (expected.size() != actual.size() || expected.size() != tolerance.size()) {
    return ::testing::AssertionFailure() << "size mismatch";
  }
  std::size_t worst = 0;
  double worst_ratio = 0.0;
  bool failed = false;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double error = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    const double ratio = error / tolerance[i];
    if (!(error <= tolerance[i]) && (!failed || ratio > worst_ratio || std::isnan(error))) {
      failed = true;
      worst = i;
      worst_ratio = std::isnan(error) ? INFINITY : ratio;
    }
  }
  if (!failed) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "worst index " << worst << ": expected " << expected[worst]
                                       << ", actual " << actual[worst] << ", tolerance " << tolerance[worst];
}

}  // namespace qrag::kernels::test
