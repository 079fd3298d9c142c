// matmul at every ISA level against the scalar reference, the dequantized F32 product and brute force.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "gguf/ggml_type.h"
#include "kernel_test_util.h"
#include "tensor/fp16.h"
#include "tensor/quantize.h"
#include "tensor/quants.h"

namespace qrag::kernels::test {
namespace {

const auto* const kQuietLogs = ::testing::AddGlobalTestEnvironment(new QuietLogs);

// A quantized weight matrix plus its dequantized values deq: [n_rows][n_cols].
struct Weights {
  WeightView view;
  std::vector<std::byte> data;
  std::vector<float> deq;
};

Weights make_weights(GgmlType type, std::int64_t n_rows, std::int64_t n_cols, std::uint32_t seed) {
  Weights w;
  const auto k = static_cast<std::size_t>(n_cols);
  const std::size_t row_bytes = gguf::row_size(type, n_cols);
  const std::vector<float> values = random_floats(static_cast<std::size_t>(n_rows) * k, seed);
  w.data.resize(row_bytes * static_cast<std::size_t>(n_rows));
  w.deq.resize(values.size());
  for (std::int64_t r = 0; r < n_rows; ++r) {
    std::byte* row = w.data.data() + static_cast<std::size_t>(r) * row_bytes;
    const float* src = values.data() + static_cast<std::size_t>(r) * k;
    float* deq = w.deq.data() + static_cast<std::size_t>(r) * k;
    if (type == GgmlType::F32) {
      std::memcpy(row, src, k * sizeof(float));
      std::memcpy(deq, src, k * sizeof(float));
    } else {
      tensor::quantize_row(type, src, row, n_cols);
      tensor::dequantize_row(type, row, deq, n_cols);
    }
  }
  w.view = {type, n_cols, n_rows, w.data.data(), row_bytes};
  return w;
}

// The activations after the round trip through `act_type`: [n_batch][k].
std::vector<float> round_trip(GgmlType act_type, const std::vector<float>& x, std::int64_t k) {
  if (act_type == GgmlType::F32) return x;
  std::vector<float> out(x.size());
  std::vector<std::byte> row(gguf::row_size(act_type, k));
  for (std::size_t offset = 0; offset < x.size(); offset += static_cast<std::size_t>(k)) {
    tensor::quantize_row(act_type, x.data() + offset, row.data(), k);
    tensor::dequantize_row(act_type, row.data(), out.data() + offset, k);
  }
  return out;
}

std::vector<float> run_matmul(IsaLevel level, int threads, const Weights& w, const std::vector<float>& x,
                              int n_batch) {
  core::ThreadPool pool(threads);
  KernelContext ctx(pool, level);
  std::vector<float> y(static_cast<std::size_t>(n_batch * w.view.n_rows), NAN);
  matmul(ctx, w.view, x.data(), y.data(), n_batch);
  return y;
}

bool has_block_min(GgmlType type) { return type == GgmlType::Q4_1 || type == GgmlType::Q5_1; }

// |dmin * m_j| of each 32-element sub-block of a Q4_K row: [n_cols / 32].
std::vector<double> q4_k_offsets(const std::byte* row, std::int64_t n_cols) {
  std::vector<double> offsets;
  for (std::int64_t ib = 0; ib < n_cols / 256; ++ib) {
    tensor::block_q4_K block;
    std::memcpy(&block, row + ib * static_cast<std::int64_t>(sizeof(block)), sizeof(block));
    for (int j = 0; j < 8; ++j) {
      std::uint8_t sc = 0;
      std::uint8_t m = 0;
      tensor::unpack_scale_min_k4(j, block.scales, &sc, &m);
      offsets.push_back(std::fabs(static_cast<double>(tensor::fp16_to_fp32(block.dmin)) * m));
    }
  }
  return offsets;
}

// Bound on the difference between two F32 evaluations of the same dot product of
// rounded operands: one rounding per accumulation step and a few per block scale,
// (K + 4) * u * S with S = sum_k |w_k||x_k|. Types with a block minimum m split
// each term into d*q*x + m*x, so S uses |w_k| + 2 max|w| of the block (>= |d q_k| + |m|);
// Q4_K subtracts dmin * m_j per 32-element sub-block, so S uses |w_k| + 2 |dmin m_j|.
std::vector<double> summation_tolerance(const Weights& w, const std::vector<float>& xq, int n_batch) {
  const std::int64_t k = w.view.n_cols;
  const std::int64_t block = gguf::type_layout(w.view.type).block_size;
  std::vector<double> tol(static_cast<std::size_t>(n_batch * w.view.n_rows));
  for (int b = 0; b < n_batch; ++b) {
    for (std::int64_t n = 0; n < w.view.n_rows; ++n) {
      const float* wr = &w.deq[static_cast<std::size_t>(n * k)];
      const float* xr = &xq[static_cast<std::size_t>(b * k)];
      std::vector<double> offsets;
      if (w.view.type == GgmlType::Q4_K) offsets = q4_k_offsets(w.data.data() + n * static_cast<std::int64_t>(w.view.row_bytes), k);
      double s = 0.0;
      for (std::int64_t i0 = 0; i0 < k; i0 += block) {
        double block_max = 0.0;
        for (std::int64_t i = i0; i < i0 + block; ++i) block_max = std::max(block_max, std::fabs(double{wr[i]}));
        const double extra = has_block_min(w.view.type) ? 2.0 * block_max : 0.0;
        for (std::int64_t i = i0; i < i0 + block; ++i) {
          const double offset = offsets.empty() ? 0.0 : 2.0 * offsets[static_cast<std::size_t>(i / 32)];
          s += (std::fabs(double{wr[i]}) + extra + offset) * std::fabs(double{xr[i]});
        }
      }
      tol[static_cast<std::size_t>(b * w.view.n_rows + n)] = static_cast<double>(k + 4) * kUnitRoundoff * s + 1e-30;
    }
  }
  return tol;
}

const GgmlType kAllTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0,
                              GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q2_K, GgmlType::Q3_K,
                              GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_NL};

// Row lengths to test: multiples of the block size, odd counts of blocks.
std::vector<std::int64_t> test_cols(GgmlType type) {
  const std::int64_t block = gguf::type_layout(type).block_size;
  if (block == 1) return {1, 2, 3, 5, 7, 15, 16, 17, 31, 32, 33, 255, 256, 257, 4096};
  if (block == 32) return {32, 64, 96, 160, 224, 512, 544, 1056, 4096};
  return {256, 512, 768, 1792, 4096};
}

const std::int64_t kRows[] = {1, 2, 3, 5, 7, 15, 16, 17, 31, 32, 33, 255, 256, 257};
const int kBatches[] = {1, 2, 3, 7, 64};

class MatmulTypeTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(MatmulTypeTest, SimdMatchesReference) {
  const GgmlType type = GetParam();
  const GgmlType act = activation_type(type);
  std::uint32_t seed = 1;
  for (std::int64_t k : test_cols(type)) {
    for (std::size_t ir = 0; ir < std::size(kRows); ++ir) {
      const std::int64_t n = kRows[ir];
      // Keep the run short: at the longest rows only a few row counts, and fewer
      // still for the types whose quantizers run a scale search.
      if (k >= 1024 && n > 33 && n != 257) continue;
      const bool slow_quantizer = gguf::type_layout(type).block_size == 256 || type == GgmlType::IQ4_NL;
      if (slow_quantizer && k > 512 && n > 33) continue;
      const int batch = kBatches[(ir + static_cast<std::size_t>(k)) % std::size(kBatches)];
      const Weights w = make_weights(type, n, k, ++seed);
      const std::vector<float> x = random_floats(static_cast<std::size_t>(batch * k), ++seed);
      const std::vector<float> expected = run_matmul(IsaLevel::kScalar, 1, w, x, batch);
      const std::vector<double> tol = summation_tolerance(w, round_trip(act, x, k), batch);
      for (IsaLevel level : simd_levels()) {
        const std::vector<float> actual = run_matmul(level, 2, w, x, batch);
        ASSERT_TRUE(all_within(expected, actual, tol))
            << isa_name(level) << " " << gguf::type_name(type) << " N=" << n << " K=" << k << " batch=" << batch;
      }
    }
  }
}

// The quantized product differs from the F32 product of the dequantized weights
// only by the activation rounding: |x - deq(q(x))| <= 0.6 * amax/127 per element
// (half a step, plus the F16 rounding of the block scale times up to 127 steps,
// 127 * 2^-11 < 0.07 steps), weighted by |w|, plus both summation errors.
TEST_P(MatmulTypeTest, MatchesDequantizedF32) {
  const GgmlType type = GetParam();
  const GgmlType act = activation_type(type);
  const std::int64_t k = gguf::type_layout(type).block_size == 1 ? 257 : 512;
  const std::int64_t n = 33;
  const int batch = 3;
  const Weights w = make_weights(type, n, k, 7);
  Weights wf;
  wf.data.resize(w.deq.size() * sizeof(float));
  std::memcpy(wf.data.data(), w.deq.data(), wf.data.size());
  wf.deq = w.deq;
  wf.view = {GgmlType::F32, k, n, wf.data.data(), static_cast<std::size_t>(k) * sizeof(float)};
  const std::vector<float> x = random_floats(static_cast<std::size_t>(batch * k), 8, 2.0f);
  const std::int64_t act_block = gguf::type_layout(act).block_size;

  std::vector<double> tol(static_cast<std::size_t>(batch * n));
  for (int b = 0; b < batch; ++b) {
    for (std::int64_t r = 0; r < n; ++r) {
      double s = 0.0;
      double rounding = 0.0;
      for (std::int64_t i0 = 0; i0 < k; i0 += act_block) {
        double amax = 0.0;
        for (std::int64_t i = i0; i < i0 + act_block; ++i) amax = std::max(amax, std::fabs(double{x[b * k + i]}));
        const double step = act == GgmlType::F32 ? 0.0 : amax / 127.0;
        for (std::int64_t i = i0; i < i0 + act_block; ++i) {
          const double wi = std::fabs(double{w.deq[r * k + i]});
          s += wi * std::fabs(double{x[b * k + i]});
          rounding += wi * 0.6 * step;
        }
      }
      tol[static_cast<std::size_t>(b * n + r)] = rounding + 2.0 * static_cast<double>(k + 4) * kUnitRoundoff * (s + rounding) + 1e-30;
    }
  }
  for (IsaLevel level : {IsaLevel::kScalar, best_isa_level()}) {
    const std::vector<float> expected = run_matmul(level, 1, wf, x, batch);
    const std::vector<float> actual = run_matmul(level, 2, w, x, batch);
    EXPECT_TRUE(all_within(expected, actual, tol)) << isa_name(level) << " " << gguf::type_name(type);
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatmulTypeTest, ::testing::ValuesIn(kAllTypes),
                         [](const ::testing::TestParamInfo<GgmlType>& param_info) {
                           return std::string(gguf::type_name(param_info.param));
                         });

TEST(Matmul, ReferenceF32MatchesBruteForce) {
  const std::int64_t k = 257;
  const std::int64_t n = 17;
  const int batch = 7;
  const Weights w = make_weights(GgmlType::F32, n, k, 3);
  const std::vector<float> x = random_floats(static_cast<std::size_t>(batch * k), 4);
  const std::vector<float> y = run_matmul(IsaLevel::kScalar, 1, w, x, batch);
  std::vector<float> exact(y.size());
  std::vector<double> tol(y.size());
  for (int b = 0; b < batch; ++b) {
    for (std::int64_t r = 0; r < n; ++r) {
      long double sum = 0.0L;
      for (std::int64_t i = 0; i < k; ++i) sum += static_cast<long double>(w.deq[r * k + i]) * x[b * k + i];
      exact[static_cast<std::size_t>(b * n + r)] = static_cast<float>(sum);
      // One F32 rounding of the double sum, whose own error is far below it.
      tol[static_cast<std::size_t>(b * n + r)] = 2.0 * kUnitRoundoff * std::fabs(static_cast<double>(sum)) + 1e-12;
    }
  }
  EXPECT_TRUE(all_within(exact, y, tol));
}

TEST(Matmul, IdenticalAcrossThreadCounts) {
  std::vector<IsaLevel> levels = simd_levels();
  levels.push_back(IsaLevel::kScalar);
  for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1,
                        GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    const std::int64_t k = 512;
    const std::int64_t n = 257;
    const int batch = 7;
    const Weights w = make_weights(type, n, k, 11);
    const std::vector<float> x = random_floats(static_cast<std::size_t>(batch * k), 12);
    for (IsaLevel level : levels) {
      const std::vector<float> one = run_matmul(level, 1, w, x, batch);
      for (int threads : {2, 3}) {
        const std::vector<float> many = run_matmul(level, threads, w, x, batch);
        EXPECT_EQ(0, std::memcmp(one.data(), many.data(), one.size() * sizeof(float)))
            << isa_name(level) << " " << gguf::type_name(type) << " threads=" << threads;
      }
      // Batch rows are independent of each other: row 0 alone gives the same bits.
      const std::vector<float> single = run_matmul(level, 1, w, std::vector<float>(x.begin(), x.begin() + k), 1);
      EXPECT_EQ(0, std::memcmp(one.data(), single.data(), single.size() * sizeof(float)))
          << isa_name(level) << " " << gguf::type_name(type) << " batch 1 vs 7";
    }
  }
}

TEST(Matmul, ActivationQuantizersBitIdentical) {
  for (IsaLevel level : simd_levels()) {
    const KernelTable& table = kernel_table(level);
    for (GgmlType type : kAllTypes) {
      const MatmulKernel& kernel = table.matmul[static_cast<int>(type)];
      if (kernel.act_type == GgmlType::F32) continue;
      for (std::int64_t k : {256, 4096}) {
        // Include exact ties and zero blocks, which stress the rounding.
        std::vector<float> x = random_floats(static_cast<std::size_t>(k), static_cast<std::uint32_t>(k), 3.0f);
        for (std::int64_t i = 0; i < 32; ++i) x[static_cast<std::size_t>(i)] = 0.0f;
        for (std::int64_t i = 32; i < 64; ++i) x[static_cast<std::size_t>(i)] = static_cast<float>(i - 48) * 0.5f;
        const std::size_t bytes = gguf::row_size(kernel.act_type, k);
        std::vector<std::byte> expected(bytes);
        std::vector<std::byte> actual(bytes);
        tensor::quantize_row(kernel.act_type, x.data(), expected.data(), k);
        kernel.quantize(x.data(), actual.data(), k);
        EXPECT_EQ(0, std::memcmp(expected.data(), actual.data(), bytes))
            << isa_name(level) << " " << gguf::type_name(kernel.act_type) << " K=" << k;
      }
    }
  }
}

// The Q8_K quantizer's edge cases: the first value of largest magnitude sets the
// sign of the scale, codes that land exactly halfway round to even, and a NaN or
// an infinity raises the reference's error.
TEST(Matmul, Q8KQuantizerEdgeCases) {
  constexpr std::int64_t k = 5 * 256;
  std::vector<float> x = random_floats(static_cast<std::size_t>(k), 99, 2.0f);
  std::fill(x.begin(), x.begin() + 256, 0.0f);  // block 0: all zero
  x[256 + 5] = 3.0f;                             // block 1: +3 before -3
  x[256 + 9] = -3.0f;
  x[512 + 5] = -3.0f;                            // block 2: -3 before +3
  x[512 + 9] = 3.0f;
  for (std::int64_t i = 0; i < 256; ++i) {       // block 3: max -127, so iscale is 1 and x.5 ties
    x[static_cast<std::size_t>(768 + i)] = static_cast<float>(i % 64) - 31.5f;
  }
  x[768] = -127.0f;
  for (IsaLevel level : simd_levels()) {
    const MatmulKernel& kernel = kernel_table(level).matmul[static_cast<int>(GgmlType::Q4_K)];
    ASSERT_EQ(kernel.act_type, GgmlType::Q8_K);
    const std::size_t bytes = gguf::row_size(GgmlType::Q8_K, k);
    std::vector<std::byte> expected(bytes);
    std::vector<std::byte> actual(bytes);
    tensor::quantize_row(GgmlType::Q8_K, x.data(), expected.data(), k);
    kernel.quantize(x.data(), actual.data(), k);
    EXPECT_EQ(0, std::memcmp(expected.data(), actual.data(), bytes)) << isa_name(level);
    for (const float bad : {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
      std::vector<float> with_bad = x;
      with_bad[1000] = bad;
      EXPECT_THROW(kernel.quantize(with_bad.data(), actual.data(), k), Error) << isa_name(level) << " " << bad;
    }
  }
}

TEST(Matmul, RejectsUnsupportedType) {
  core::ThreadPool pool(1);
  KernelContext ctx(pool, IsaLevel::kScalar);
  std::vector<std::byte> data(66);
  const WeightView w{GgmlType::IQ2_XXS, 256, 1, data.data(), data.size()};
  std::vector<float> x(256, 1.0f);
  std::vector<float> y(1);
  EXPECT_THROW(matmul(ctx, w, x.data(), y.data(), 1), Error);
}

// Weights of four types (two share the Q8_0 activations, one uses Q8_1, one F32)
// and odd row counts, so that thread chunks straddle the boundaries between jobs.
TEST(MatmulGroup, MatchesSeparateCalls) {
  std::vector<IsaLevel> levels = simd_levels();
  levels.push_back(IsaLevel::kScalar);
  const std::int64_t k = 256;
  const int batch = 3;
  // push_back moves each Weights, so view.data keeps pointing at its own bytes
  // (an initializer list would copy them and leave the views dangling).
  std::vector<Weights> weights;
  weights.push_back(make_weights(GgmlType::Q4_0, 37, k, 31));
  weights.push_back(make_weights(GgmlType::F16, 5, k, 32));
  weights.push_back(make_weights(GgmlType::Q8_0, 66, k, 33));
  weights.push_back(make_weights(GgmlType::Q4_1, 17, k, 34));
  const std::vector<float> x = random_floats(static_cast<std::size_t>(batch * k), 35);
  for (IsaLevel level : levels) {
    for (int threads : {1, 2, 3}) {
      core::ThreadPool pool(threads);
      KernelContext ctx(pool, level);
      std::vector<std::vector<float>> grouped;
      std::vector<MatmulJob> jobs;
      for (const Weights& w : weights) grouped.emplace_back(static_cast<std::size_t>(batch * w.view.n_rows), NAN);
      for (std::size_t i = 0; i < weights.size(); ++i) jobs.push_back({&weights[i].view, grouped[i].data()});
      matmul_group(ctx, jobs, x.data(), batch);
      for (std::size_t i = 0; i < weights.size(); ++i) {
        const std::vector<float> alone = run_matmul(level, 1, weights[i], x, batch);
        EXPECT_EQ(0, std::memcmp(alone.data(), grouped[i].data(), alone.size() * sizeof(float)))
            << isa_name(level) << " " << gguf::type_name(weights[i].view.type) << " threads=" << threads;
      }
    }
  }
}

TEST(MatmulGroup, RejectsDifferentRowLengths) {
  core::ThreadPool pool(1);
  KernelContext ctx(pool, IsaLevel::kScalar);
  const Weights a = make_weights(GgmlType::F32, 2, 32, 1);
  const Weights b = make_weights(GgmlType::F32, 2, 64, 2);
  const std::vector<float> x(64, 1.0f);
  std::vector<float> ya(2);
  std::vector<float> yb(2);
  const MatmulJob jobs[] = {{&a.view, ya.data()}, {&b.view, yb.data()}};
  EXPECT_THROW(matmul_group(ctx, jobs, x.data(), 1), Error);
}

TEST(Matmul, RejectsPartialBlock) {
  core::ThreadPool pool(1);
  KernelContext ctx(pool, IsaLevel::kScalar);
  std::vector<std::byte> data(64);
  const WeightView w{GgmlType::Q8_0, 48, 1, data.data(), data.size()};
  std::vector<float> x(48, 1.0f);
  std::vector<float> y(1);
  EXPECT_THROW(matmul(ctx, w, x.data(), y.data(), 1), Error);
}

TEST(KernelContext, HonorsQragCpu) {
  core::ThreadPool pool(1);
  ::setenv("QRAG_CPU", "scalar", 1);
  EXPECT_EQ(KernelContext(pool).isa(), IsaLevel::kScalar);
  ::setenv("QRAG_CPU", "sse9", 1);
  EXPECT_THROW(KernelContext{pool}, Error);
  ::setenv("QRAG_CPU", "avx512", 1);
  if (isa_available(IsaLevel::kAvx512)) {
    EXPECT_EQ(KernelContext(pool).isa(), IsaLevel::kAvx512);
  } else {
    EXPECT_THROW(KernelContext{pool}, Error);  // unavailable level: no silent fallback
  }
  ::unsetenv("QRAG_CPU");
  EXPECT_EQ(KernelContext(pool).isa(), best_isa_level());
}

}  // namespace
}  // namespace qrag::kernels::test
