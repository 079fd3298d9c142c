// Vector ops, RoPE, KV-cache stores and attention at every ISA level against references.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kernel_test_util.h"
#include "tensor/fp16.h"

namespace qrag::kernels::test {
namespace {

const auto* const kQuietLogs = ::testing::AddGlobalTestEnvironment(new QuietLogs);

const std::int64_t kSizes[] = {1, 2, 3, 5, 7, 15, 16, 17, 31, 32, 33, 255, 256, 257, 4096};
constexpr float kInfinity = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Contexts {
  core::ThreadPool pool{1};
  KernelContext scalar{pool, IsaLevel::kScalar};
};

TEST(VecOps, RmsNormMatchesReference) {
  Contexts c;
  for (IsaLevel level : simd_levels()) {
    KernelContext ctx(c.pool, level);
    for (std::int64_t n : kSizes) {
      const std::vector<float> x = random_floats(static_cast<std::size_t>(2 * n), 1, 3.0f);
      const std::vector<float> w = random_floats(static_cast<std::size_t>(n), 2);
      std::vector<float> expected(x.size());
      std::vector<float> actual(x.size());
      rms_norm(c.scalar, x.data(), w.data(), expected.data(), n, 2, 1e-6f);
      rms_norm(ctx, x.data(), w.data(), actual.data(), n, 2, 1e-6f);
      // Sum of n squares: relative error <= n*u; sqrt, divide and two products add a few u.
      std::vector<double> tol(x.size());
      for (std::size_t i = 0; i < tol.size(); ++i) tol[i] = static_cast<double>(n + 8) * kUnitRoundoff * std::fabs(expected[i]) + 1e-37;
      EXPECT_TRUE(all_within(expected, actual, tol)) << isa_name(level) << " n=" << n;
    }
  }
}

// Values that exercise every branch of the F16 rounding: ties to even in the
// normal and subnormal ranges, the largest finite values, overflow to infinity,
// underflow to zero, infinities and NaN.
std::vector<float> f16_rounding_cases() {
  std::vector<float> values = {0.0f,         -0.0f,        1.0f,          1.0f + 0x1p-11f, 1.0f + 0x3p-11f,
                               65504.0f,     65519.99f,    65520.0f,      -65520.0f,       1e9f,
                               0x1p-24f,     0x1p-25f,     0x1.8p-25f,    0x3p-26f,        0x1p-26f,
                               6.1e-5f,      -6.1e-5f,     0x1.ffcp-15f,  0x1.ffep-15f,    3.14159265f,
                               kInfinity,    -kInfinity,   kNaN};
  const std::vector<float> random = random_floats(4000, 17, 70000.0f);
  values.insert(values.end(), random.begin(), random.end());
  const std::vector<float> small = random_floats(4000, 18, 1e-4f);
  values.insert(values.end(), small.begin(), small.end());
  return values;
}

TEST(VecOps, RoundToF16MatchesReference) {
  Contexts c;
  const std::vector<float> cases = f16_rounding_cases();
  for (IsaLevel level : simd_levels()) {
    KernelContext ctx(c.pool, level);
    for (std::int64_t n : kSizes) {
      std::vector<float> x(static_cast<std::size_t>(n));
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = cases[(i * 7) % cases.size()];
      std::vector<float> expected(x.size());
      std::vector<float> actual(x.size());
      round_to_f16(c.scalar, x.data(), expected.data(), n);
      round_to_f16(ctx, x.data(), actual.data(), n);
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (std::isnan(expected[i])) {
          EXPECT_TRUE(std::isnan(actual[i])) << isa_name(level) << " n=" << n << " x=" << x[i];
        } else {
          EXPECT_EQ(std::bit_cast<std::uint32_t>(actual[i]), std::bit_cast<std::uint32_t>(expected[i]))
              << isa_name(level) << " n=" << n << " x=" << x[i];
        }
      }
    }
  }
}

TEST(VecOps, RoundToF16ReferenceValues) {
  Contexts c;
  const float x[] = {1.0f + 0x1p-11f, 1.0f + 0x3p-11f, 65520.0f, 0x1p-25f, 0x1.8p-25f, 65504.0f};
  // Ties go to the even neighbour, 65520 is past the largest finite F16 (65504),
  // and 2^-25 ties between 0 and the smallest subnormal 2^-24.
  const float expected[] = {1.0f, 1.0f + 0x1p-9f, kInfinity, 0.0f, 0x1p-24f, 65504.0f};
  float out[6];
  round_to_f16(c.scalar, x, out, 6);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[i], expected[i]) << "x=" << x[i];
}

// Large inputs are split over the threads in chunks, here rounded in place (out == x).
TEST(VecOps, RoundToF16ThreadedInPlace) {
  core::ThreadPool pool(2);
  KernelContext ctx(pool);
  Contexts c;
  const std::int64_t n = 3 * 64 * 1024 + 5;
  std::vector<float> x = random_floats(static_cast<std::size_t>(n), 21, 1000.0f);
  std::vector<float> expected(x.size());
  round_to_f16(c.scalar, x.data(), expected.data(), n);
  round_to_f16(ctx, x.data(), x.data(), n);
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], expected[i]) << "index " << i;
}

// Enough rows to be split over the threads: every row must keep its bits.
TEST(VecOps, NormsSplitRowsOverThreads) {
  core::ThreadPool one(1);
  core::ThreadPool two(2);
  KernelContext single(one);
  KernelContext split(two);
  const std::int64_t n = 1000;
  const std::int64_t n_rows = 67;
  const std::vector<float> x = random_floats(static_cast<std::size_t>(n * n_rows), 31, 4.0f);
  const std::vector<float> w = random_floats(static_cast<std::size_t>(n), 32);
  const std::vector<float> b = random_floats(static_cast<std::size_t>(n), 33);
  std::vector<float> expected(x.size());
  std::vector<float> actual(x.size());
  rms_norm(single, x.data(), w.data(), expected.data(), n, n_rows, 1e-6f);
  rms_norm(split, x.data(), w.data(), actual.data(), n, n_rows, 1e-6f);
  EXPECT_EQ(actual, expected);
  layer_norm(single, x.data(), w.data(), b.data(), expected.data(), n, n_rows, 1e-5f);
  layer_norm(split, x.data(), w.data(), b.data(), actual.data(), n, n_rows, 1e-5f);
  EXPECT_EQ(actual, expected);
}

TEST(VecOps, RmsNormReferenceValue) {
  Contexts c;
  const float x[4] = {1.0f, -2.0f, 3.0f, -4.0f};  // mean square 7.5
  float y[4];
  rms_norm(c.scalar, x, nullptr, y, 4, 1, 0.0f);
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(y[i], x[i] / std::sqrt(7.5f)) << i;
}

TEST(VecOps, LayerNormReferenceValue) {
  Contexts c;
  const float x[4] = {1.0f, 2.0f, 3.0f, 6.0f};  // mean 3, variance 3.5
  const float w[4] = {1.0f, 2.0f, 1.0f, 1.0f};
  const float b[4] = {0.5f, 0.0f, 0.0f, 0.0f};
  float y[4];
  layer_norm(c.scalar, x, w, b, y, 4, 1, 0.0f);
  const float inv = 1.0f / std::sqrt(3.5f);
  EXPECT_FLOAT_EQ(y[0], -2.0f * inv + 0.5f);
  EXPECT_FLOAT_EQ(y[1], -2.0f * inv);
  EXPECT_FLOAT_EQ(y[2], 0.0f);
  EXPECT_FLOAT_EQ(y[3], 3.0f * inv);
}

// Layer norm against exact arithmetic at every level, on rows whose mean m (100)
// is large against their spread (3), so that the error of the mean dominates.
// The implementations sum in double, so the sums' own error (below
// 2^-53 n sum|x|) is negligible. The float mean is then off by u|m|, and x - m by
// u|m| + u|x - m|. The variance is off by 3u + (u m)^2 / var relatively, and
// inv = 1/sqrt(var + eps) by half of that plus 2u (rel_inv). The two products add
// 2u |y| and the bias add u |y|. The tolerance is twice the sum:
// |w| inv (u|m| + (rel_inv + 3u)|x - m|) + u|y|.
TEST(VecOps, LayerNormMatchesExact) {
  Contexts c;
  std::vector<IsaLevel> levels = simd_levels();
  levels.push_back(IsaLevel::kScalar);
  for (IsaLevel level : levels) {
    KernelContext ctx(c.pool, level);
    for (std::int64_t n : kSizes) {
      const auto size = static_cast<std::size_t>(n);
      std::vector<float> x = random_floats(2 * size, 31, 3.0f);
      for (float& v : x) v += 100.0f;
      const std::vector<float> w = random_floats(size, 32);
      const std::vector<float> b = random_floats(size, 33);
      for (const bool affine : {true, false}) {
        const float* weight = affine ? w.data() : nullptr;
        const float* bias = affine ? b.data() : nullptr;
        std::vector<float> actual(x.size());
        layer_norm(ctx, x.data(), weight, bias, actual.data(), n, 2, 1e-6f);

        std::vector<float> expected(x.size());
        std::vector<double> tol(x.size());
        for (std::size_t r = 0; r < 2; ++r) {
          const float* row = x.data() + r * size;
          double mean = 0.0;
          for (std::size_t i = 0; i < size; ++i) mean += row[i];
          mean /= static_cast<double>(n);
          double var = 0.0;
          for (std::size_t i = 0; i < size; ++i) var += (row[i] - mean) * (row[i] - mean);
          var /= static_cast<double>(n);
          const double inv = 1.0 / std::sqrt(var + 1e-6);
          const double u = kUnitRoundoff;
          const double rel_inv = (3.0 * u + (u * mean) * (u * mean) / (var + 1e-6)) / 2.0 + 2.0 * u;
          for (std::size_t i = 0; i < size; ++i) {
            const double wi = affine ? w[i] : 1.0;
            const double y = (row[i] - mean) * inv * wi + (affine ? b[i] : 0.0);
            expected[r * size + i] = static_cast<float>(y);
            const double dev = std::fabs(row[i] - mean);
            tol[r * size + i] =
                2.0 * (std::fabs(wi) * inv * (u * std::fabs(mean) + (rel_inv + 3.0 * u) * dev) + u * std::fabs(y)) +
                1e-37;
          }
        }
        EXPECT_TRUE(all_within(expected, actual, tol))
            << isa_name(level) << " n=" << n << (affine ? " with weight and bias" : " without");
      }
    }
  }
}

// x Phi(x) in double, Phi(x) = erfc(-x / sqrt2) / 2.
std::vector<float> gelu_erf_exact(const std::vector<float>& x) {
  std::vector<float> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = static_cast<float>(x[i] * 0.5 * std::erfc(-x[i] / std::sqrt(2.0)));
  return y;
}

// Inputs for GELU accuracy: a grid over [-14, 14] (Phi(-14) is about 1e-44), the
// random test data and special values.
std::vector<float> gelu_erf_inputs() {
  std::vector<float> x;
  for (int i = -70000; i <= 70000; ++i) x.push_back(static_cast<float>(i) * 2e-4f);
  const std::vector<float> random = random_floats(4096, 34, 6.0f);
  x.insert(x.end(), random.begin(), random.end());
  for (float v : {0.0f, -0.0f, 1e-40f, -1e-40f, 1e-20f, -1e-20f, 13.2f, -13.2f, 13.3f, -13.3f, 40.0f, -40.0f,
                  1e30f, -1e30f, 3e38f, -3e38f}) {
    x.push_back(v);
  }
  return x;
}

// The SIMD GELU is within an estimated 13.7u |y| of x Phi(x) (the derivation is
// at gelu_erf8 in vec_avx2.cpp), and rounding the double result adds 0.5u, so the
// bound is 15u |y|.
// The scalar reference 0.5x(1 + erf(x/sqrt2)) rounds 1 + erf, which costs up to
// u|x| absolute for negative x (so its results for x < -6 are mostly 0), and erf
// and the products add about 2u |y|. Its bound is (4|y| + 2|x|) u.
TEST(VecOps, GeluErfMatchesExact) {
  Contexts c;
  const std::vector<float> x = gelu_erf_inputs();
  const std::vector<float> expected = gelu_erf_exact(x);
  std::vector<IsaLevel> levels = simd_levels();
  levels.push_back(IsaLevel::kScalar);
  for (IsaLevel level : levels) {
    KernelContext ctx(c.pool, level);
    std::vector<float> actual(x.size());
    gelu_erf(ctx, x.data(), actual.data(), static_cast<std::int64_t>(x.size()));
    std::vector<double> tol(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double y = std::fabs(expected[i]);
      const double bound = level == IsaLevel::kScalar ? 4.0 * y + 2.0 * std::fabs(x[i]) : 15.0 * y;
      tol[i] = bound * kUnitRoundoff + 1e-37;
    }
    EXPECT_TRUE(all_within(expected, actual, tol)) << isa_name(level);
  }
}

// BERT applies gelu_erf to all tokens in one call: an element's result must not
// depend on where it sits in the range (tail or vector body).
TEST(VecOps, GeluErfIndependentOfOffset) {
  Contexts c;
  for (IsaLevel level : simd_levels()) {
    KernelContext ctx(c.pool, level);
    const std::vector<float> x = random_floats(257, 35, 6.0f);
    std::vector<float> whole(x.size());
    gelu_erf(ctx, x.data(), whole.data(), static_cast<std::int64_t>(x.size()));
    for (std::size_t start = 0; start < 17; ++start) {
      for (std::int64_t n : kSizes) {
        if (start + static_cast<std::size_t>(n) > x.size()) continue;
        std::vector<float> part(static_cast<std::size_t>(n));
        gelu_erf(ctx, x.data() + start, part.data(), n);
        const std::vector<float> slice(whole.begin() + static_cast<std::ptrdiff_t>(start),
                                       whole.begin() + static_cast<std::ptrdiff_t>(start) + n);
        EXPECT_EQ(slice, part) << isa_name(level) << " start=" << start << " n=" << n;
      }
    }
  }
}

TEST(VecOps, SoftmaxMatchesReference) {
  Contexts c;
  for (IsaLevel level : simd_levels()) {
    KernelContext ctx(c.pool, level);
    for (std::int64_t n : kSizes) {
      const std::vector<float> x = random_floats(static_cast<std::size_t>(n), 3, 5.0f);
      std::vector<float> expected = x;
      std::vector<float> actual = x;
      softmax(c.scalar, expected.data(), n, 1);
      softmax(ctx, actual.data(), n, 1);
      const float max = *std::max_element(x.begin(), x.end());
      // exp(x - max): the subtraction and the polynomial cost about (|x - max| + 4) u
      // relative; the float sum of n positive terms n*u; the final scaling 2u.
      std::vector<double> tol(x.size());
      for (std::size_t i = 0; i < tol.size(); ++i) {
        tol[i] = (static_cast<double>(n) + 8.0 + std::fabs(x[i] - max)) * kUnitRoundoff * expected[i] + 1e-37;
      }
      EXPECT_TRUE(all_within(expected, actual, tol)) << isa_name(level) << " n=" << n;
      double sum = 0.0;
      for (float v : actual) sum += v;
      EXPECT_NEAR(sum, 1.0, static_cast<double>(n + 8) * kUnitRoundoff) << isa_name(level) << " n=" << n;
    }
  }
}

// Activations x*sigmoid(a x): exp costs about (4 + |a x|) u relative, the argument
// of GELU 4u relative (so |x * z| * 4u after the sigmoid's slope), the divide and
// product 2u. The reference GELU form 0.5x(1 + tanh z) has an absolute error near
// u|x| for negative x. Hence tol = (16 + 8|z|) u (|x| + |y|), with z = x for SiLU.
std::vector<double> activation_tolerance(const std::vector<float>& x, const std::vector<float>& y) {
  std::vector<double> tol(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double z = std::fabs(x[i]) * (1.0 + 0.044715 * x[i] * x[i]);
    tol[i] = (16.0 + 8.0 * z) * kUnitRoundoff * (std::fabs(x[i]) + std::fabs(y[i])) + 1e-37;
  }
  return tol;
}

TEST(VecOps, ActivationsMatchReference) {
  Contexts c;
  for (IsaLevel level : simd_levels()) {
    KernelContext ctx(c.pool, level);
    for (std::int64_t n : kSizes) {
      const auto size = static_cast<std::size_t>(n);
      const std::vector<float> x = random_floats(size, 4, 6.0f);
      const std::vector<float> up = random_floats(size, 5, 2.0f);
      std::vector<float> expected(size);
      std::vector<float> actual(size);

      silu(c.scalar, x.data(), expected.data(), n);
      silu(ctx, x.data(), actual.data(), n);
      EXPECT_TRUE(all_within(expected, actual, activation_tolerance(x, expected))) << isa_name(level) << " silu n=" << n;

      gelu(c.scalar, x.data(), expected.data(), n);
      gelu(ctx, x.data(), actual.data(), n);
      EXPECT_TRUE(all_within(expected, actual, activation_tolerance(x, expected))) << isa_name(level) << " gelu n=" << n;

      gelu_erf(c.scalar, x.data(), expected.data(), n);
      gelu_erf(ctx, x.data(), actual.data(), n);
      EXPECT_TRUE(all_within(expected, actual, activation_tolerance(x, expected))) << isa_name(level) << " gelu_erf n=" << n;

      // swiglu = silu(gate) * up: one more product, scaled by |up| <= 2.
      swiglu(c.scalar, x.data(), up.data(), expected.data(), n);
      swiglu(ctx, x.data(), up.data(), actual.data(), n);
      std::vector<double> tol = activation_tolerance(x, expected);
      for (double& t : tol) t *= 2.0;
      EXPECT_TRUE(all_within(expected, actual, tol)) << isa_name(level) << " swiglu n=" << n;
    }
  }
}

TEST(VecOps, ActivationReferenceValues) {
  Contexts c;
  const float x[3] = {-1.0f, 0.0f, 2.0f};
  float y[3];
  silu(c.scalar, x, y, 3);
  EXPECT_FLOAT_EQ(y[0], -1.0f / (1.0f + std::exp(1.0f)));
  EXPECT_FLOAT_EQ(y[1], 0.0f);
  gelu_erf(c.scalar, x, y, 3);
  EXPECT_NEAR(y[2], 1.9544997f, 1e-6f);  // 2 * Phi(2)
  gelu(c.scalar, x, y, 3);
  EXPECT_NEAR(y[2], 1.9545977f, 1e-6f);  // tanh approximation at 2
}

TEST(VecOps, ElementwiseBitIdentical) {
  Contexts c;
  for (IsaLevel level : simd_levels()) {
    KernelContext ctx(c.pool, level);
    for (std::int64_t n : kSizes) {
      const auto size = static_cast<std::size_t>(n);
      const std::vector<float> a = random_floats(size, 6);
      const std::vector<float> b = random_floats(size, 7);
      std::vector<float> expected(size);
      std::vector<float> actual(size);
      add(c.scalar, a.data(), b.data(), expected.data(), n);
      add(ctx, a.data(), b.data(), actual.data(), n);
      EXPECT_EQ(expected, actual) << isa_name(level) << " add n=" << n;
      mul(c.scalar, a.data(), b.data(), expected.data(), n);
      mul(ctx, a.data(), b.data(), actual.data(), n);
      EXPECT_EQ(expected, actual) << isa_name(level) << " mul n=" << n;
      scale(c.scalar, a.data(), 0.37f, expected.data(), n);
      actual = a;
      scale(ctx, actual.data(), 0.37f, actual.data(), n);  // in place
      EXPECT_EQ(expected, actual) << isa_name(level) << " scale n=" << n;
    }
  }
}

// ---- RoPE ------------------------------------------------------------------

TEST(Rope, MatchesFormula) {
  Contexts c;
  const int n_heads = 3;
  const int head_dim = 10;
  const std::int64_t n_tokens = 4;
  const std::int32_t pos[4] = {0, 1, 17, 300};
  const float factors[3] = {1.0f, 2.0f, 8.0f};
  for (RopeMode mode : {RopeMode::kNormal, RopeMode::kNeox}) {
    for (const float* freq_factors : {static_cast<const float*>(nullptr), factors}) {
      RopeParams params;
      params.mode = mode;
      params.n_dims = 6;  // dims 6..9 pass through
      params.freq_base = 10000.0f;
      params.freq_scale = 0.5f;
      params.freq_factors = freq_factors;
      const std::vector<float> x = random_floats(static_cast<std::size_t>(n_tokens * n_heads * head_dim), 9);
      std::vector<float> y = x;
      rope(c.scalar, params, y.data(), n_tokens, n_heads, head_dim, pos);

      std::vector<float> expected = x;
      std::vector<double> tol(x.size(), 1e-30);
      for (std::int64_t t = 0; t < n_tokens; ++t) {
        for (int h = 0; h < n_heads; ++h) {
          const std::size_t base = static_cast<std::size_t>((t * n_heads + h) * head_dim);
          for (int i = 0; i < 3; ++i) {
            double theta = pos[t] * 0.5 * std::pow(10000.0, -2.0 * i / 6.0);
            if (freq_factors != nullptr) theta /= freq_factors[i];
            const std::size_t a = base + static_cast<std::size_t>(mode == RopeMode::kNeox ? i : 2 * i);
            const std::size_t b = a + (mode == RopeMode::kNeox ? 3 : 1);
            expected[a] = static_cast<float>(x[a] * std::cos(theta) - x[b] * std::sin(theta));
            expected[b] = static_cast<float>(x[a] * std::sin(theta) + x[b] * std::cos(theta));
            // theta in F32 is off by about 4u|theta|, and cos, sin and the products by a few u.
            const double t_tol = (std::fabs(x[a]) + std::fabs(x[b])) * (4.0 * theta + 8.0) * kUnitRoundoff;
            tol[a] = t_tol;
            tol[b] = t_tol;
          }
        }
      }
      EXPECT_TRUE(all_within(expected, y, tol)) << (mode == RopeMode::kNeox ? "neox" : "normal")
                                                << (freq_factors != nullptr ? " with factors" : "");
    }
  }
}

// The SIMD rotations take the reference's rounding steps, so every level gives the
// same bits. half covers the AVX2 tails (4 pairs per block in normal mode, 8 in
// NeoX mode) and head_dim leaves 3 dims to pass through.
TEST(Rope, BitIdenticalAcrossLevels) {
  Contexts c;
  const std::int32_t pos[3] = {0, 7, 1000};
  for (IsaLevel level : simd_levels()) {
    KernelContext ctx(c.pool, level);
    for (int half : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 128}) {
      for (RopeMode mode : {RopeMode::kNormal, RopeMode::kNeox}) {
        RopeParams params;
        params.mode = mode;
        params.n_dims = 2 * half;
        const int head_dim = 2 * half + 3;
        const std::vector<float> x = random_floats(static_cast<std::size_t>(3 * 5 * head_dim), 36, 4.0f);
        std::vector<float> expected = x;
        std::vector<float> actual = x;
        rope(c.scalar, params, expected.data(), 3, 5, head_dim, pos);
        rope(ctx, params, actual.data(), 3, 5, head_dim, pos);
        EXPECT_EQ(expected, actual) << isa_name(level) << (mode == RopeMode::kNeox ? " neox" : " normal")
                                    << " half=" << half;
      }
    }
  }
}

TEST(Rope, RejectsOddDims) {
  Contexts c;
  RopeParams params;
  params.n_dims = 5;
  float x[8] = {};
  const std::int32_t pos = 0;
  EXPECT_THROW(rope(c.scalar, params, x, 1, 1, 8, &pos), Error);
}

// ---- KV cache and attention -------------------------------------------------

struct Cache {
  std::vector<f16_bits> k;
  std::vector<f16_bits> v;
  KvCacheView view;
};

Cache make_cache(KernelContext& ctx, std::int64_t n_ctx, int n_head_kv, int head_dim, std::int64_t n_fill) {
  Cache cache;
  const auto row = static_cast<std::size_t>(n_head_kv * head_dim);
  cache.k.assign(static_cast<std::size_t>(n_ctx) * row, 0);
  cache.v.assign(static_cast<std::size_t>(n_ctx) * row, 0);
  cache.view = {cache.k.data(), cache.v.data(), n_ctx, n_head_kv, head_dim};
  const std::vector<float> k = random_floats(static_cast<std::size_t>(n_fill) * row, 21, 2.0f);
  const std::vector<float> v = random_floats(static_cast<std::size_t>(n_fill) * row, 22);
  std::vector<std::int32_t> pos(static_cast<std::size_t>(n_fill));
  for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<std::int32_t>(i);
  store_kv(ctx, cache.view, k.data(), v.data(), n_fill, pos.data());
  return cache;
}

TEST(KvCache, StoreBitIdentical) {
  Contexts c;
  for (IsaLevel level : simd_levels()) {
    KernelContext ctx(c.pool, level);
    const Cache cache = make_cache(ctx, 8, 3, 17, 5);
    const std::vector<float> k = random_floats(5 * 51, 21, 2.0f);
    for (std::size_t i = 0; i < k.size(); ++i) {
      ASSERT_EQ(cache.k[i], tensor::fp32_to_fp16(k[i])) << isa_name(level) << " index " << i;
    }
    for (std::size_t i = k.size(); i < cache.k.size(); ++i) ASSERT_EQ(cache.k[i], 0) << "unwritten index " << i;
  }
}

TEST(KvCache, RejectsPositionOutsideCache) {
  Contexts c;
  std::vector<f16_bits> k(4);
  std::vector<f16_bits> v(4);
  const KvCacheView view{k.data(), v.data(), 2, 1, 2};
  const float row[2] = {1.0f, 2.0f};
  const std::int32_t pos = 2;
  EXPECT_THROW(store_kv(c.scalar, view, row, row, 1, &pos), Error);
}

// Brute force in double from the stored F16 values, with a derived tolerance.
// Score error: delta <= (head_dim + 4) u scale sum|q||k|. The output is a convex
// combination of V rows whose weights move by at most 2 delta + (|s - max| + n + 8) u
// relatively, so |error| <= sum_j p_j |v_j| (2 delta_max + (spread + n + 8) u).
void expect_attention_close(KernelContext& ctx, const Cache& cache, const AttentionParams& params,
                            const std::vector<float>& q, const std::vector<std::int32_t>& pos, std::int64_t n_kv,
                            const std::uint8_t* mask, const std::string& label) {
  const int hd = cache.view.head_dim;
  const auto n_tokens = static_cast<std::int64_t>(pos.size());
  std::vector<float> out(static_cast<std::size_t>(n_tokens * params.n_head * hd), NAN);
  attention(ctx, params, cache.view, q.data(), n_tokens, pos.data(), n_kv, mask, out.data());

  std::vector<float> expected(out.size());
  std::vector<double> tol(out.size());
  const int group = params.n_head / cache.view.n_head_kv;
  const auto kv_row = static_cast<std::size_t>(cache.view.n_head_kv * hd);
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    for (int h = 0; h < params.n_head; ++h) {
      const std::size_t kv_off = static_cast<std::size_t>(h / group * hd);
      const float* qh = &q[static_cast<std::size_t>((t * params.n_head + h) * hd)];
      std::vector<double> s;
      std::vector<std::int64_t> keys;
      double delta = 0.0;
      for (std::int64_t j = 0; j < n_kv; ++j) {
        bool visible = params.causal ? j <= pos[static_cast<std::size_t>(t)] : (mask == nullptr || mask[j] != 0);
        if (params.causal && params.sliding_window > 0) visible = visible && pos[static_cast<std::size_t>(t)] - j < params.sliding_window;
        if (!visible) continue;
        double dot = 0.0;
        double norm = 0.0;
        for (int d = 0; d < hd; ++d) {
          const double kd = tensor::fp16_to_fp32(cache.k[static_cast<std::size_t>(j) * kv_row + kv_off + static_cast<std::size_t>(d)]);
          dot += kd * qh[d];
          norm += std::fabs(kd * qh[d]);
        }
        s.push_back(params.scale * dot);
        keys.push_back(j);
        delta = std::max(delta, (hd + 4) * kUnitRoundoff * params.scale * norm);
      }
      const double max = *std::max_element(s.begin(), s.end());
      const double min = *std::min_element(s.begin(), s.end());
      double sum = 0.0;
      for (double& v : s) sum += (v = std::exp(v - max));
      const double rel = 2.0 * delta + (max - min + static_cast<double>(s.size()) + 8.0) * kUnitRoundoff;
      for (int d = 0; d < hd; ++d) {
        double acc = 0.0;
        double mag = 0.0;
        for (std::size_t i = 0; i < keys.size(); ++i) {
          const double vd = tensor::fp16_to_fp32(cache.v[static_cast<std::size_t>(keys[i]) * kv_row + kv_off + static_cast<std::size_t>(d)]);
          acc += s[i] / sum * vd;
          mag += s[i] / sum * std::fabs(vd);
        }
        const auto idx = static_cast<std::size_t>((t * params.n_head + h) * hd + d);
        expected[idx] = static_cast<float>(acc);
        tol[idx] = mag * rel + 1e-30;
      }
    }
  }
  EXPECT_TRUE(all_within(expected, out, tol)) << isa_name(ctx.isa()) << " " << label;
}

TEST(Attention, MatchesBruteForce) {
  core::ThreadPool pool(3);
  std::vector<IsaLevel> levels = simd_levels();
  levels.push_back(IsaLevel::kScalar);
  for (IsaLevel level : levels) {
    KernelContext ctx(pool, level);
    // head_dim 17 takes the generic loop, the others the SIMD chunks where present.
    // n_head 2, 6, 16 over 2 kv heads: 1, 3 and 8 query heads per kv head.
    for (const auto& [hd, n_head] : std::vector<std::pair<int, int>>{
             {64, 6}, {17, 6}, {64, 2}, {64, 16}, {32, 16}, {80, 6}, {128, 6}, {256, 6}}) {
      const Cache cache = make_cache(ctx, 64, 2, hd, 41);
      AttentionParams params;
      params.n_head = n_head;
      params.scale = 1.0f / std::sqrt(static_cast<float>(hd));
      const std::vector<float> q = random_floats(static_cast<std::size_t>(3 * params.n_head * hd), 23, 2.0f);
      const std::string shape = " head_dim=" + std::to_string(hd) + " n_head=" + std::to_string(n_head);
      expect_attention_close(ctx, cache, params, q, {0, 1, 2}, 41, nullptr, "prefill" + shape);
      expect_attention_close(ctx, cache, params, std::vector<float>(q.begin(), q.begin() + n_head * hd), {40}, 41,
                             nullptr, "decode" + shape);
      params.sliding_window = 8;
      expect_attention_close(ctx, cache, params, q, {3, 20, 40}, 41, nullptr, "sliding window" + shape);
      params.sliding_window = 0;
      params.causal = false;
      std::vector<std::uint8_t> mask(41, 1);
      for (std::size_t j = 30; j < mask.size(); ++j) mask[j] = 0;  // padding
      expect_attention_close(ctx, cache, params, q, {0, 1, 2}, 41, mask.data(), "encoder with padding" + shape);
    }
  }
}

TEST(Attention, IdenticalAcrossThreadCounts) {
  for (IsaLevel level : simd_levels()) {
    std::vector<std::vector<float>> outputs;
    for (int threads : {1, 2, 3}) {
      core::ThreadPool pool(threads);
      KernelContext ctx(pool, level);
      const Cache cache = make_cache(ctx, 32, 2, 64, 20);
      AttentionParams params;
      params.n_head = 4;
      params.scale = 0.125f;
      const std::vector<float> q = random_floats(5 * 4 * 64, 24);
      const std::vector<std::int32_t> pos = {15, 16, 17, 18, 19};
      std::vector<float> out(q.size());
      attention(ctx, params, cache.view, q.data(), 5, pos.data(), 20, nullptr, out.data());
      outputs.push_back(out);
    }
    EXPECT_EQ(0, std::memcmp(outputs[0].data(), outputs[1].data(), outputs[0].size() * 4)) << isa_name(level);
    EXPECT_EQ(0, std::memcmp(outputs[0].data(), outputs[2].data(), outputs[0].size() * 4)) << isa_name(level);
  }
}

// Decoding reuses the KV cache that a longer prefill wrote, and a run compares rows
// computed in different batches. A query's output therefore must not depend on the
// other queries of its call, so one token alone gives the same bits as inside 16 tokens.
TEST(Attention, TokenAloneEqualsTokenInBatch) {
  core::ThreadPool pool(2);
  for (IsaLevel level : simd_levels()) {
    KernelContext ctx(pool, level);
    for (const int n_head : {2, 6, 16}) {
      for (const int window : {0, 5}) {
        const Cache cache = make_cache(ctx, 64, 2, 64, 41);
        AttentionParams params;
        params.n_head = n_head;
        params.scale = 0.125f;
        params.sliding_window = window;
        const auto row = static_cast<std::size_t>(n_head * 64);
        const std::vector<float> q = random_floats(16 * row, 25, 2.0f);
        std::vector<std::int32_t> pos(16);
        for (std::size_t t = 0; t < pos.size(); ++t) pos[t] = static_cast<std::int32_t>(10 + 2 * t);
        std::vector<float> batch(q.size());
        attention(ctx, params, cache.view, q.data(), 16, pos.data(), 41, nullptr, batch.data());
        for (std::size_t t = 0; t < pos.size(); ++t) {
          std::vector<float> alone(row);
          attention(ctx, params, cache.view, q.data() + t * row, 1, &pos[t], 41, nullptr, alone.data());
          EXPECT_EQ(0, std::memcmp(alone.data(), batch.data() + t * row, row * sizeof(float)))
              << isa_name(level) << " n_head=" << n_head << " window=" << window << " token " << t;
        }
      }
    }
  }
}

TEST(Attention, RejectsBadShapes) {
  Contexts c;
  const Cache cache = make_cache(c.scalar, 8, 2, 4, 4);
  const std::vector<float> q(3 * 4, 1.0f);
  std::vector<float> out(q.size());
  AttentionParams params;
  params.n_head = 3;  // not a multiple of n_head_kv = 2
  const std::int32_t pos = 0;
  EXPECT_THROW(attention(c.scalar, params, cache.view, q.data(), 1, &pos, 4, nullptr, out.data()), Error);
  params.n_head = 2;
  const std::int32_t late = 4;  // beyond the 4 filled positions
  EXPECT_THROW(attention(c.scalar, params, cache.view, q.data(), 1, &late, 4, nullptr, out.data()), Error);
}

}  // namespace
}  // namespace qrag::kernels::test
