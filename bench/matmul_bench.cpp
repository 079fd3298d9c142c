// matmul throughput per weight type at decode (batch 1) and prefill (batch 512) shapes and
// over one decoded token's small products, with the machine's memory bandwidth (triad)
// and F32-FMA / int8-dot peaks for comparison.
// GCC 12 reports the deliberately undefined vectors inside its own AVX-512
// reduction intrinsics as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/thread_pool.h"
#include "gguf/ggml_type.h"
#include "kernels/kernels.h"
#include "tensor/quantize.h"

namespace qrag::kernels {
namespace {

using gguf::GgmlType;

// ---- machine limits ----------------------------------------------------------

// STREAM-style triad a[i] = b[i] + s * c[i] over three arrays of 512 MiB in total,
// split over the pool's threads. Counts 3 * 4 bytes per element (no write-allocate).
void bench_triad(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const std::size_t n = (512u << 20) / (3 * sizeof(float));
  std::vector<float> a(n, 0.0f);
  std::vector<float> b(n, 1.0f);
  std::vector<float> c(n, 2.0f);
  core::ThreadPool pool(threads);
  for (auto _ : state) {
    pool.parallel_for(n, [&](std::size_t begin, std::size_t end, int) {
      for (std::size_t i = begin; i < end; ++i) a[i] = b[i] + 3.0f * c[i];
    });
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(3.0 * 4.0 * static_cast<double>(n) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

constexpr long kPeakSteps = 1 << 20;

// 16 independent chains of 512-bit FMAs per thread: 16 * 16 lanes * 2 FLOP per step.
__attribute__((target("avx512f"))) float fma_loop(long steps) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999999f);
  const __m512 add = _mm512_set1_ps(1e-7f);
  for (long s = 0; s < steps; ++s) {
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, add);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

// 16 independent chains of 512-bit vpdpbusd: 16 * 64 byte products, 2 ops each, per step.
__attribute__((target("avx512f,avx512vnni"))) int vnni_loop(long steps) {
  __m512i acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi8(3);
  const __m512i b = _mm512_set1_epi8(-2);
  for (long s = 0; s < steps; ++s) {
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  }
  __m512i sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm512_add_epi32(sum, acc[i]);
  return _mm512_reduce_add_epi32(sum);
}

template <bool kVnni>
void bench_peak(benchmark::State& state) {
  if (best_isa_level() != IsaLevel::kAvx512) {
    state.SkipWithError("needs AVX-512");
    return;
  }
  const int threads = static_cast<int>(state.range(0));
  core::ThreadPool pool(threads);
  std::vector<double> sink(static_cast<std::size_t>(threads));
  for (auto _ : state) {
    pool.parallel_for(static_cast<std::size_t>(threads), [&](std::size_t begin, std::size_t, int) {
      sink[begin] = kVnni ? vnni_loop(kPeakSteps) : fma_loop(kPeakSteps);
    });
    benchmark::DoNotOptimize(sink.data());
  }
  const double ops_per_step = kVnni ? 16.0 * 64 * 2 : 16.0 * 16 * 2;
  state.counters[kVnni ? "Gop/s" : "GFLOP/s"] = benchmark::Counter(
      ops_per_step * kPeakSteps * threads * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// ---- matmul --------------------------------------------------------------------

// n_rows x n_cols weights of `type`: 16 quantized random rows repeated, which
// is valid data for every type without running the slower quantizers on 45M values.
std::vector<std::byte> make_weights(GgmlType type, std::int64_t n_rows, std::int64_t n_cols) {
  const std::size_t row_bytes = gguf::row_size(type, n_cols);
  constexpr std::int64_t kDistinctRows = 16;
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> values(static_cast<std::size_t>(n_cols));
  std::vector<std::byte> pattern(row_bytes * kDistinctRows);
  for (std::int64_t r = 0; r < kDistinctRows; ++r) {
    for (float& v : values) v = dist(rng);
    std::byte* row = pattern.data() + static_cast<std::size_t>(r) * row_bytes;
    if (type == GgmlType::F32) {
      std::memcpy(row, values.data(), row_bytes);
    } else {
      tensor::quantize_row(type, values.data(), row, n_cols);
    }
  }
  std::vector<std::byte> data(row_bytes * static_cast<std::size_t>(n_rows));
  for (std::int64_t r = 0; r < n_rows; ++r) {
    std::memcpy(data.data() + static_cast<std::size_t>(r) * row_bytes,
                pattern.data() + static_cast<std::size_t>(r % kDistinctRows) * row_bytes, row_bytes);
  }
  return data;
}

void bench_matmul(benchmark::State& state, GgmlType type, std::int64_t n_rows, std::int64_t n_cols, int batch,
                  int threads) {
  const std::vector<std::byte> data = make_weights(type, n_rows, n_cols);
  const WeightView w{type, n_cols, n_rows, data.data(), gguf::row_size(type, n_cols)};
  std::vector<float> x(static_cast<std::size_t>(batch * n_cols));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  std::vector<float> y(static_cast<std::size_t>(batch * n_rows));
  core::ThreadPool pool(threads);
  KernelContext ctx(pool);  // QRAG_CPU selects the level

  for (auto _ : state) {
    matmul(ctx, w, x.data(), y.data(), batch);
    benchmark::ClobberMemory();
  }
  const double flop = 2.0 * static_cast<double>(n_rows) * static_cast<double>(n_cols) * batch;
  state.counters["GFLOP/s"] = benchmark::Counter(flop * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (batch == 1) {
    state.counters["GB/s"] =
        benchmark::Counter(static_cast<double>(data.size()) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  }
  state.SetLabel(std::string(isa_name(ctx.isa())));
}

// One decoded token's matmuls over a model-sized weight buffer. kLayers layers of
// SmolLM2-135M's shapes (q 576x576, k and v 192x576, o 576x576, gate and up
// 1536x576, down 576x1536) lie back to back as in a GGUF file. They are called
// in the decoder's order: q/k/v grouped, o, gate/up grouped, down. With
// one_matrix the same bytes are read as a single 576-column matrix instead, so
// the difference is what 120 calls over 210 small products per token cost in
// start-up, joins and cold prefetch. With huge the buffer is advised for
// transparent huge pages (as `--no-mmap` loads a model), else it has 4 KiB pages.
void bench_decode_layers(benchmark::State& state, GgmlType type, int threads) {
  constexpr std::int64_t kEmbd = 576;
  constexpr std::int64_t kKv = 192;
  constexpr std::int64_t kFf = 1536;
  constexpr int kLayers = 30;
  constexpr int kPerLayer = 7;
  const std::int64_t rows[kPerLayer] = {kEmbd, kKv, kKv, kEmbd, kFf, kFf, kEmbd};
  const std::int64_t cols[kPerLayer] = {kEmbd, kEmbd, kEmbd, kEmbd, kEmbd, kEmbd, kFf};
  std::size_t layer_bytes = 0;
  for (int m = 0; m < kPerLayer; ++m) {
    layer_bytes += gguf::row_size(type, cols[m]) * static_cast<std::size_t>(rows[m]);
  }
  const std::size_t total = layer_bytes * kLayers;

  constexpr std::size_t kHugePage = std::size_t{2} << 20;
  const std::size_t alloc = (total + kHugePage - 1) / kHugePage * kHugePage;
  auto* base = static_cast<std::byte*>(std::aligned_alloc(kHugePage, alloc));
  if (state.range(0) != 0) madvise(base, alloc, MADV_HUGEPAGE);
  const std::vector<std::byte> pattern = make_weights(type, 64, kFf);
  for (std::size_t off = 0; off < alloc; off += pattern.size()) {
    std::memcpy(base + off, pattern.data(), std::min(pattern.size(), alloc - off));
  }

  std::vector<WeightView> views;  // [kLayers * kPerLayer], in file order
  std::size_t offset = 0;
  for (int il = 0; il < kLayers; ++il) {
    for (int m = 0; m < kPerLayer; ++m) {
      const std::size_t row_bytes = gguf::row_size(type, cols[m]);
      views.push_back({type, cols[m], rows[m], base + offset, row_bytes});
      offset += row_bytes * static_cast<std::size_t>(rows[m]);
    }
  }
  const std::size_t one_rows = total / gguf::row_size(type, kEmbd);
  const WeightView one{type, kEmbd, static_cast<std::int64_t>(one_rows), base, gguf::row_size(type, kEmbd)};
  std::vector<float> x(kFf, 0.01f);             // [n_ff] activations (the first n_embd for most products)
  std::vector<float> y(std::max(one_rows, static_cast<std::size_t>(2 * kFf)));  // outputs

  core::ThreadPool pool(threads);
  KernelContext ctx(pool);
  for (auto _ : state) {
    if (state.range(1) != 0) {
      matmul(ctx, one, x.data(), y.data(), 1);
    } else {
      for (int il = 0; il < kLayers; ++il) {
        const WeightView* w = &views[static_cast<std::size_t>(il) * kPerLayer];
        const MatmulJob qkv[] = {{&w[0], y.data()}, {&w[1], y.data() + kEmbd}, {&w[2], y.data() + kEmbd + kKv}};
        matmul_group(ctx, qkv, x.data(), 1);
        matmul(ctx, w[3], x.data(), y.data(), 1);
        const MatmulJob gate_up[] = {{&w[4], y.data()}, {&w[5], y.data() + kFf}};
        matmul_group(ctx, gate_up, x.data(), 1);
        matmul(ctx, w[6], x.data(), y.data(), 1);
      }
    }
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] =
      benchmark::Counter(static_cast<double>(total) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  std::free(base);
}

struct Shape {
  std::int64_t n_rows;  // N (output features)
  std::int64_t n_cols;  // K (input features)
  bool large;           // 7B shapes: fewer iterations at batch 512
};

// SmolLM-135M (n_embd 576, kv 192, n_ff 1536, vocab 49152) and llama-7B (4096, n_ff 11008).
const Shape kShapes[] = {{576, 576, false},  {192, 576, false},   {1536, 576, false}, {576, 1536, false},
                         {49152, 576, false}, {4096, 4096, true}, {11008, 4096, true}};

const GgmlType kAllTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0,
                              GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q2_K, GgmlType::Q3_K,
                              GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_NL};

// Types with a SIMD path; the others run the scalar reference, far too slow for batch 512.
const GgmlType kSimdTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0,  GgmlType::Q4_0,
                               GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::IQ4_NL, GgmlType::Q2_K,
                               GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

bool is_study_type(GgmlType type) {
  return type == GgmlType::F16 || type == GgmlType::Q8_0 || type == GgmlType::Q4_0;
}

void register_all() {
  for (int threads : {1, 2}) {
    benchmark::RegisterBenchmark(("triad/t" + std::to_string(threads)).c_str(), bench_triad)
        ->Arg(threads)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("peak_fma_f32/t" + std::to_string(threads)).c_str(), bench_peak<false>)
        ->Arg(threads)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("peak_vnni_int8/t" + std::to_string(threads)).c_str(), bench_peak<true>)
        ->Arg(threads)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  for (GgmlType type : kAllTypes) {
    for (const Shape& shape : kShapes) {
      // K-quants need K % 256 == 0 (576 is not: such files store those tensors in other types).
      if (shape.n_cols % gguf::type_layout(type).block_size != 0) continue;
      for (int threads : {1, 2}) {
        if (threads == 1 && !is_study_type(type)) continue;
        const std::string name = "matmul/" + std::string(gguf::type_name(type)) + "/" + std::to_string(shape.n_rows) +
                                 "x" + std::to_string(shape.n_cols) + "/b1/t" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), bench_matmul, type, shape.n_rows, shape.n_cols, 1, threads)
            ->UseRealTime()->Unit(benchmark::kMicrosecond);
      }
    }
  }
  for (GgmlType type : {GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0}) {
    for (int threads : {1, 2}) {
      const std::string name = "decode_layers/" + std::string(gguf::type_name(type)) + "/t" + std::to_string(threads);
      benchmark::RegisterBenchmark(name.c_str(), bench_decode_layers, type, threads)
          ->ArgNames({"huge", "one_matrix"})
          ->ArgsProduct({{0, 1}, {0, 1}})
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (GgmlType type : kSimdTypes) {
    for (const Shape& shape : kShapes) {
      if (shape.large && !is_study_type(type) && type != GgmlType::F32) continue;
      if (shape.n_cols % gguf::type_layout(type).block_size != 0) continue;  // K-quants at K = 576
      const std::string name = "matmul/" + std::string(gguf::type_name(type)) + "/" + std::to_string(shape.n_rows) +
                               "x" + std::to_string(shape.n_cols) + "/b512/t2";
      auto* bench = benchmark::RegisterBenchmark(name.c_str(), bench_matmul, type, shape.n_rows, shape.n_cols, 512, 2)
                        ->UseRealTime()->Unit(benchmark::kMillisecond);
      if (shape.large) bench->Iterations(2);
    }
  }
}

}  // namespace
}  // namespace qrag::kernels

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  benchmark::Initialize(&argc, argv);
  qrag::kernels::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
