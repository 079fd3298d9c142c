// Public API of the CPU kernels: matmul over GGML weight types, vector ops and attention.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/thread_pool.h"
#include "gguf/ggml_type.h"

namespace qrag::kernels {

using gguf::GgmlType;
using f16_bits = std::uint16_t;  // raw IEEE binary16 bits

// Instruction-set level of the kernel table. kAvx2 needs AVX2+FMA+F16C; kAvx512
// needs AVX-512 F/BW/VL/DQ (VNNI and BF16 are used where the CPU has them).
enum class IsaLevel { kScalar, kAvx2, kAvx512 };

std::string_view isa_name(IsaLevel level);  // "scalar", "avx2", "avx512"

// Parses "scalar|avx2|avx512"; throws qrag::Error naming the value otherwise.
IsaLevel parse_isa_level(std::string_view name);

// The highest level the running CPU (and OS) supports.
IsaLevel best_isa_level();

struct KernelTable;  // per-ISA function table, defined in kernels/dispatch.h

// A weight matrix as stored in GGUF: n_rows rows (ne1, N) of n_cols elements
// (ne0, K), each row `row_bytes` apart. Not owned; typically points into a mapped file.
struct WeightView {
  GgmlType type = GgmlType::F32;
  std::int64_t n_cols = 0;  // K, a multiple of the type's block size
  std::int64_t n_rows = 0;  // N
  const void* data = nullptr;
  std::size_t row_bytes = 0;  // >= gguf::row_size(type, n_cols)
};

// Explicit kernel state: the ISA level chosen once, its function table, the
// thread pool and scratch buffers. Owns the scratch buffers, borrows the pool
// (which must outlive it). Not thread-safe: one kernel call at a time.
class KernelContext {
 public:
  // Uses the environment variable QRAG_CPU=scalar|avx2|avx512 when set, else
  // best_isa_level(). Throws qrag::Error when the requested level is not
  // available on this CPU (no silent fallback). Logs the level at info.
  explicit KernelContext(core::ThreadPool& pool);
  // Uses `level`; throws qrag::Error when the CPU lacks it.
  KernelContext(core::ThreadPool& pool, IsaLevel level);
  ~KernelContext();
  KernelContext(const KernelContext&) = delete;
  KernelContext& operator=(const KernelContext&) = delete;

  IsaLevel isa() const { return level_; }
  core::ThreadPool& pool() const { return *pool_; }
  int n_threads() const { return pool_->size(); }
  const KernelTable& table() const { return *table_; }

  // Scratch space reused across calls (grows, never shrinks). Internal to the kernels.
  void* scratch(std::size_t bytes);
  float* thread_scratch(int thread_index, std::size_t n_floats);

 private:
  IsaLevel level_;
  core::ThreadPool* pool_;
  const KernelTable* table_;
  std::vector<std::byte> scratch_;             // quantized activations
  std::vector<std::vector<float>> per_thread_;  // [n_threads][...] attention scores
};

// ---- matmul ----------------------------------------------------------------

// y[b][n] = sum_k W[n][k] * x[b][k] for b < n_batch, n < N, k < K.
//   x: [n_batch][K] F32, row-major; y: [n_batch][N] F32, row-major (must not alias x).
// Supported weight types: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K,
// Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL; others throw qrag::Error. Quantized types
// first quantize x to their activation type (Q8_0, Q8_1 or Q8_K); F16 and BF16
// weights are widened to F32 and meet x unchanged. Each y element comes from one
// thread in a fixed order, so results are identical for any thread count.
// NOTE: x must be finite for quantized types. The Q8_K quantizer (all levels) and
// the scalar level throw qrag::Error on NaN or Inf. The SIMD Q8_0/Q8_1 quantizers
// do not check, so their result is then unspecified.
void matmul(KernelContext& ctx, const WeightView& w, const float* x, float* y, int n_batch);

// One weight of a matmul_group and its output y: [n_batch][w->n_rows] F32.
struct MatmulJob {
  const WeightView* w;
  float* y;
};

// Runs matmul for every job on the same x ([n_batch][K], K equal for all
// weights) in one parallel pass over their concatenated rows, quantizing x once
// per activation type. Q/K/V and gate/up projections thus share one wake-up of
// the workers. Results are bit-identical to separate matmul calls.
void matmul_group(KernelContext& ctx, std::span<const MatmulJob> jobs, const float* x, int n_batch);

// Activation type that matmul quantizes x to for weight type `type` (F32 when
// x is used as is).
GgmlType activation_type(GgmlType type);

// ---- vector ops (x and out may be the same pointer unless stated) ----------

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight; x, out: [n_rows][n];
// weight: [n] or null (no scaling).
void rms_norm(const KernelContext& ctx, const float* x, const float* weight, float* out,
              std::int64_t n, std::int64_t n_rows, float eps);

// out[r] = (x[r] - mean) / sqrt(var + eps) * weight + bias; x, out: [n_rows][n];
// weight, bias: [n] or null.
void layer_norm(const KernelContext& ctx, const float* x, const float* weight, const float* bias,
                float* out, std::int64_t n, std::int64_t n_rows, float eps);

// In-place softmax of each row (max subtracted first); x: [n_rows][n].
void softmax(const KernelContext& ctx, float* x, std::int64_t n, std::int64_t n_rows);

// Element-wise, all arrays [n].
void silu(const KernelContext& ctx, const float* x, float* out, std::int64_t n);
void gelu(const KernelContext& ctx, const float* x, float* out, std::int64_t n);      // tanh approximation (ggml_gelu)
void gelu_erf(const KernelContext& ctx, const float* x, float* out, std::int64_t n);  // exact, 0.5*x*(1+erf(x/sqrt2))
void swiglu(const KernelContext& ctx, const float* gate, const float* up, float* out,
            std::int64_t n);  // silu(gate) * up
void add(const KernelContext& ctx, const float* a, const float* b, float* out, std::int64_t n);
void mul(const KernelContext& ctx, const float* a, const float* b, float* out, std::int64_t n);
void scale(const KernelContext& ctx, const float* x, float s, float* out, std::int64_t n);
// out[i] = x[i] rounded to the nearest F16 value (ties to even) and widened back to
// F32, as ggml rounds activations before F16 products. Values beyond the F16
// range become infinities. Split over the pool's threads when n is large.
void round_to_f16(const KernelContext& ctx, const float* x, float* out, std::int64_t n);

// ---- rotary position embedding -------------------------------------------

enum class RopeMode {
  kNormal,  // rotates pairs (x[2i], x[2i+1]) (llama)
  kNeox,    // rotates pairs (x[i], x[i + n_dims/2]) (qwen2, gemma3)
};

struct RopeParams {
  RopeMode mode = RopeMode::kNormal;
  int n_dims = 0;             // rotated dims per head (even, <= head_dim); the rest pass through
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;    // 1 / linear scaling factor (GGUF rope.scaling.factor)
  const float* freq_factors = nullptr;  // [n_dims/2] divisors of each frequency, or null
};

// Rotates x in place: theta_i = pos * freq_scale * freq_base^(-2i/n_dims) / freq_factors[i].
//   x: [n_tokens][n_heads][head_dim]; pos: [n_tokens].
void rope(const KernelContext& ctx, const RopeParams& params, float* x, std::int64_t n_tokens,
          int n_heads, int head_dim, const std::int32_t* pos);

// ---- KV cache and attention ------------------------------------------------

// One layer's KV cache, not owned. Layout of both k and v:
//   F16 [n_ctx][n_head_kv][head_dim], i.e. row `p` (n_head_kv*head_dim values)
//   contains all kv heads of cache position p.
struct KvCacheView {
  f16_bits* k = nullptr;
  f16_bits* v = nullptr;
  std::int64_t n_ctx = 0;
  int n_head_kv = 0;
  int head_dim = 0;
};

// Converts and stores token rows at cache positions pos[i].
//   k, v: [n_tokens][n_head_kv*head_dim] F32; pos: [n_tokens], each in [0, n_ctx).
void store_kv(const KernelContext& ctx, const KvCacheView& cache, const float* k, const float* v,
              std::int64_t n_tokens, const std::int32_t* pos);

struct AttentionParams {
  int n_head = 0;          // query heads; a multiple of cache.n_head_kv (GQA)
  float scale = 1.0f;      // usually 1/sqrt(head_dim)
  bool causal = true;      // query at pos p attends to cache positions 0..p
  int sliding_window = 0;  // > 0: also require pos - j < sliding_window
};

// For each query row i and head h (kv head h / (n_head / n_head_kv)):
//   scores_j = scale * q[i][h] . K[j][kvh], softmax over visible j, out[i][h] = sum_j p_j V[j][kvh].
// Causal: visible j are 0..pos[i] (and the sliding window). Non-causal: visible j
// are 0..n_kv-1 where kv_mask is null or kv_mask[j] != 0 (padding mask for encoders).
//   q: [n_tokens][n_head][head_dim] F32; pos: [n_tokens]; kv_mask: [n_kv] or null;
//   out: [n_tokens][n_head*head_dim] F32.
// n_kv bounds the cache positions read (positions beyond pos[i] are never read
// when causal). A row with no visible key gets zeros. Parallel over (token, head).
void attention(KernelContext& ctx, const AttentionParams& params, const KvCacheView& cache,
               const float* q, std::int64_t n_tokens, const std::int32_t* pos, std::int64_t n_kv,
               const std::uint8_t* kv_mask, float* out);

}  // namespace qrag::kernels
