// Entry points of the vector ops, RoPE, KV-cache stores and attention.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/kernels.h"

namespace qrag::kernels {

namespace {

// Calls row_fn(r) for every row r < n_rows, split over the pool's threads when
// the rows hold at least kMinParallelValues values in all. Each row is computed
// whole by one thread, so the split does not change a bit.
template <class RowFn>
void for_each_row(const KernelContext& ctx, std::int64_t n_rows, std::int64_t n, const RowFn& row_fn) {
  constexpr std::int64_t kMinParallelValues = 32 * 1024;
  if (n_rows < 2 || n_rows * n < kMinParallelValues || ctx.n_threads() == 1) {
    for (std::int64_t r = 0; r < n_rows; ++r) row_fn(r);
    return;
  }
  ctx.pool().parallel_for(static_cast<std::size_t>(n_rows), [&](std::size_t begin, std::size_t end, int) {
    for (auto r = static_cast<std::int64_t>(begin); r < static_cast<std::int64_t>(end); ++r) row_fn(r);
  });
}

}  // namespace

void rms_norm(const KernelContext& ctx, const float* x, const float* weight, float* out, std::int64_t n,
              std::int64_t n_rows, float eps) {
  for_each_row(ctx, n_rows, n, [&](std::int64_t r) { ctx.table().rms_norm(x + r * n, weight, out + r * n, n, eps); });
}

void layer_norm(const KernelContext& ctx, const float* x, const float* weight, const float* bias, float* out,
                std::int64_t n, std::int64_t n_rows, float eps) {
  for_each_row(ctx, n_rows, n,
               [&](std::int64_t r) { ctx.table().layer_norm(x + r * n, weight, bias, out + r * n, n, eps); });
}

void softmax(const KernelContext& ctx, float* x, std::int64_t n, std::int64_t n_rows) {
  for (std::int64_t r = 0; r < n_rows; ++r) ctx.table().softmax(x + r * n, n);
}

void silu(const KernelContext& ctx, const float* x, float* out, std::int64_t n) { ctx.table().silu(x, out, n); }
void gelu(const KernelContext& ctx, const float* x, float* out, std::int64_t n) { ctx.table().gelu(x, out, n); }
void gelu_erf(const KernelContext& ctx, const float* x, float* out, std::int64_t n) {
  ctx.table().gelu_erf(x, out, n);
}
void swiglu(const KernelContext& ctx, const float* gate, const float* up, float* out, std::int64_t n) {
  ctx.table().swiglu(gate, up, out, n);
}
void add(const KernelContext& ctx, const float* a, const float* b, float* out, std::int64_t n) {
  ctx.table().add(a, b, out, n);
}
void mul(const KernelContext& ctx, const float* a, const float* b, float* out, std::int64_t n) {
  ctx.table().mul(a, b, out, n);
}
void scale(const KernelContext& ctx, const float* x, float s, float* out, std::int64_t n) {
  ctx.table().scale(x, s, out, n);
}

void round_to_f16(const KernelContext& ctx, const float* x, float* out, std::int64_t n) {
  // A decoded token's rows stay on the calling thread, and only prompt batches are split.
  constexpr std::int64_t kMinParallel = 64 * 1024;
  if (n < kMinParallel || ctx.n_threads() == 1) {
    ctx.table().round_to_f16(x, out, n);
    return;
  }
  // Chunks of 64 values keep each thread's range on whole cache lines when x is 64-byte aligned.
  constexpr std::int64_t kChunk = 64;
  const auto n_chunks = static_cast<std::size_t>((n + kChunk - 1) / kChunk);
  ctx.pool().parallel_for(n_chunks, [&](std::size_t begin, std::size_t end, int) {
    const auto first = static_cast<std::int64_t>(begin) * kChunk;
    const std::int64_t last = std::min(n, static_cast<std::int64_t>(end) * kChunk);
    ctx.table().round_to_f16(x + first, out + first, last - first);
  });
}

void rope(const KernelContext& ctx, const RopeParams& params, float* x, std::int64_t n_tokens, int n_heads,
          int head_dim, const std::int32_t* pos) {
  if (params.n_dims <= 0 || params.n_dims % 2 != 0 || params.n_dims > head_dim) {
    throw Error("rope: rotated dims " + std::to_string(params.n_dims) + " must be even and in (0, head_dim " +
                std::to_string(head_dim) + "]");
  }
  const int half = params.n_dims / 2;
  // inv_freq[i] = freq_scale * base^(-2i/n_dims) / freq_factors[i]: [half].
  std::vector<float> inv_freq(static_cast<std::size_t>(half));
  for (int i = 0; i < half; ++i) {
    float f = params.freq_scale *
              static_cast<float>(std::pow(static_cast<double>(params.freq_base), -2.0 * i / params.n_dims));
    if (params.freq_factors != nullptr) f /= params.freq_factors[i];
    inv_freq[static_cast<std::size_t>(i)] = f;
  }
  // cos and sin are computed here, once per token and for every ISA level, so
  // only the rotation itself goes through the kernel table.
  std::vector<float> cos_theta(inv_freq.size());
  std::vector<float> sin_theta(inv_freq.size());
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    for (int i = 0; i < half; ++i) {
      const float theta = static_cast<float>(pos[t]) * inv_freq[static_cast<std::size_t>(i)];
      cos_theta[static_cast<std::size_t>(i)] = std::cos(theta);
      sin_theta[static_cast<std::size_t>(i)] = std::sin(theta);
    }
    float* row = x + t * n_heads * static_cast<std::int64_t>(head_dim);
    ctx.table().rope_rotate(row, n_heads, head_dim, half, params.mode, cos_theta.data(), sin_theta.data());
  }
}

void store_kv(const KernelContext& ctx, const KvCacheView& cache, const float* k, const float* v,
              std::int64_t n_tokens, const std::int32_t* pos) {
  const std::int64_t row = static_cast<std::int64_t>(cache.n_head_kv) * cache.head_dim;
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    if (pos[t] < 0 || pos[t] >= cache.n_ctx) {
      throw Error("store_kv: position " + std::to_string(pos[t]) + " outside the cache of " +
                  std::to_string(cache.n_ctx) + " positions");
    }
    ctx.table().f32_to_f16(k + t * row, cache.k + pos[t] * row, row);
    ctx.table().f32_to_f16(v + t * row, cache.v + pos[t] * row, row);
  }
}

namespace {

void validate_attention(const AttentionParams& params, const KvCacheView& cache, std::int64_t n_tokens,
                        const std::int32_t* pos, std::int64_t n_kv) {
  if (cache.n_head_kv <= 0 || params.n_head <= 0 || params.n_head % cache.n_head_kv != 0) {
    throw Error("attention: n_head " + std::to_string(params.n_head) + " is not a positive multiple of n_head_kv " +
                std::to_string(cache.n_head_kv));
  }
  if (n_kv < 0 || n_kv > cache.n_ctx) {
    throw Error("attention: n_kv " + std::to_string(n_kv) + " outside [0, n_ctx " + std::to_string(cache.n_ctx) +
                "]");
  }
  if (!params.causal) return;
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    if (pos[t] < 0 || pos[t] >= n_kv) {
      throw Error("attention: query position " + std::to_string(pos[t]) + " outside the " +
                  std::to_string(n_kv) + " filled cache positions");
    }
  }
}

}  // namespace

namespace {

// Arguments of the generic attention loop: n_q query heads that share one kv head,
// over the visible cache positions [lo, hi). kv_mask is null or [hi] (0 hides a position).
//   k, v: F16 rows of that kv head, row j at k + j * kv_row.
//   q, out: [n_q][head_dim] F32. scores: scratch of n_q * (hi - lo) floats.
// out[r] = sum_j softmax_j(scale * q[r] . k_j) v_j, or zeros when no key is visible.
struct AttendArgs {
  const f16_bits* k;
  const f16_bits* v;
  std::int64_t kv_row;
  std::int64_t lo;
  std::int64_t hi;
  const std::uint8_t* kv_mask;
  const float* q;
  float* out;
  int n_q;
  int head_dim;
  float scale;
  float* scores;
};

// The portable attention of one (token, kv head): one query head at a time through the
// table's dot_f16 and axpy_f16. acc: scratch of head_dim floats.
void attend_generic(const KernelTable& table, const AttendArgs& a, float* acc) {
  const std::int64_t n = a.hi - a.lo;
  for (int r = 0; r < a.n_q; ++r) {
    const float* qh = a.q + static_cast<std::int64_t>(r) * a.head_dim;
    float* oh = a.out + static_cast<std::int64_t>(r) * a.head_dim;
    float* scores = a.scores + r * n;  // scores[j - lo] for j in [lo, hi)
    float max = -INFINITY;
    for (std::int64_t j = a.lo; j < a.hi; ++j) {
      const bool masked = a.kv_mask != nullptr && a.kv_mask[j] == 0;
      const float s = masked ? -INFINITY : a.scale * table.dot_f16(a.k + j * a.kv_row, qh, a.head_dim);
      scores[j - a.lo] = s;
      max = std::max(max, s);
    }
    std::fill(acc, acc + a.head_dim, 0.0f);
    if (max == -INFINITY) {  // no visible key
      std::copy(acc, acc + a.head_dim, oh);
      continue;
    }
    float sum = 0.0f;
    for (std::int64_t j = a.lo; j < a.hi; ++j) {
      if (scores[j - a.lo] == -INFINITY) continue;
      const float p = std::exp(scores[j - a.lo] - max);
      sum += p;
      table.axpy_f16(p, a.v + j * a.kv_row, acc, a.head_dim);
    }
    const float inv = 1.0f / sum;
    for (int d = 0; d < a.head_dim; ++d) oh[d] = acc[d] * inv;
  }
}

}  // namespace

// Bounds: qt 16 head_dim, four key rows 4 head_dim, probs max(16 n_keys, 4 rows of
// n_keys rounded up to 16), and 15 floats lost to each of two 64-byte alignments.
std::size_t chunk_scratch_floats(int head_dim, std::int64_t n_keys) {
  return static_cast<std::size_t>(20 * head_dim + 16 * n_keys + 128);
}

namespace {

// Visible cache positions [lo, hi) of query row t.
std::pair<std::int64_t, std::int64_t> visible_range(const AttentionParams& params, const std::int32_t* pos,
                                                    std::int64_t n_kv, std::int64_t t) {
  if (!params.causal) return {0, n_kv};
  const std::int64_t hi = pos[t] + 1;
  const std::int64_t lo = params.sliding_window > 0 ? std::max<std::int64_t>(0, hi - params.sliding_window) : 0;
  return {lo, hi};
}

// Calls task_fn(task, thread) for every task < n_tasks, thread t of T taking tasks
// t, t + T, t + 2T... With causal attention a task's cost grows with its tokens'
// positions, so contiguous ranges would leave the last thread about three quarters
// of a prompt's work at two threads. Which thread runs a task does not change its bits.
template <class TaskFn>
void for_each_task_strided(KernelContext& ctx, std::size_t n_tasks, const TaskFn& task_fn) {
  const auto n_threads = std::min(static_cast<std::size_t>(ctx.n_threads()), n_tasks);
  ctx.pool().parallel_for(n_threads, [&](std::size_t begin, std::size_t, int thread) {
    for (std::size_t task = begin; task < n_tasks; task += n_threads) task_fn(task, thread);
  });
}

// Runs the chunk kernel over tasks of (kv head, chunk of consecutive tokens), with
// as many tokens per chunk as fit 16 query heads. Returns false when the kernel
// does not handle these shapes.
bool attention_chunks(KernelContext& ctx, const AttentionParams& params, const KvCacheView& cache, const float* q,
                      std::int64_t n_tokens, const std::int32_t* pos, std::int64_t n_kv, const std::uint8_t* kv_mask,
                      float* out) {
  const KernelTable& table = ctx.table();
  const int group = params.n_head / cache.n_head_kv;
  if (table.attend_chunk == nullptr || group > 16) return false;
  const int head_dim = cache.head_dim;
  const std::int64_t chunk = 16 / group;
  const std::int64_t n_chunks = (n_tokens + chunk - 1) / chunk;
  const auto n_tasks = static_cast<std::size_t>(n_chunks * cache.n_head_kv);
  std::atomic<bool> handled = true;
  for_each_task_strided(ctx, n_tasks, [&](std::size_t task, int thread) {
    float* scratch = ctx.thread_scratch(thread, chunk_scratch_floats(head_dim, n_kv));
    const auto c = static_cast<std::int64_t>(task / static_cast<std::size_t>(cache.n_head_kv));
    const int g = static_cast<int>(task % static_cast<std::size_t>(cache.n_head_kv));
    const std::int64_t t0 = c * chunk;
    std::int64_t lo[16];
    std::int64_t hi[16];
    AttendChunkArgs args{};
    args.n_tokens = static_cast<int>(std::min(chunk, n_tokens - t0));
    for (int i = 0; i < args.n_tokens; ++i) std::tie(lo[i], hi[i]) = visible_range(params, pos, n_kv, t0 + i);
    args.k = cache.k + static_cast<std::int64_t>(g) * head_dim;
    args.v = cache.v + static_cast<std::int64_t>(g) * head_dim;
    args.kv_row = static_cast<std::int64_t>(cache.n_head_kv) * head_dim;
    args.group = group;
    args.lo = lo;
    args.hi = hi;
    args.kv_mask = params.causal ? nullptr : kv_mask;
    args.q_stride = static_cast<std::int64_t>(params.n_head) * head_dim;
    args.out_stride = args.q_stride;
    const std::int64_t first = t0 * args.q_stride + static_cast<std::int64_t>(g) * group * head_dim;
    args.q = q + first;
    args.out = out + first;
    args.head_dim = head_dim;
    args.scale = params.scale;
    args.scratch = scratch;
    // The shapes are the same for every task, so either all or none are handled.
    if (!table.attend_chunk(args)) handled.store(false);
  });
  return handled.load();
}

}  // namespace

void attention(KernelContext& ctx, const AttentionParams& params, const KvCacheView& cache, const float* q,
               std::int64_t n_tokens, const std::int32_t* pos, std::int64_t n_kv, const std::uint8_t* kv_mask,
               float* out) {
  validate_attention(params, cache, n_tokens, pos, n_kv);
  if (attention_chunks(ctx, params, cache, q, n_tokens, pos, n_kv, kv_mask, out)) return;
  const KernelTable& table = ctx.table();
  const int head_dim = cache.head_dim;
  const int group = params.n_head / cache.n_head_kv;
  const std::int64_t kv_row = static_cast<std::int64_t>(cache.n_head_kv) * head_dim;

  // One task per (token, kv head): t = task / n_head_kv, g = task % n_head_kv,
  // covering the `group` query heads g * group .. (g + 1) * group - 1, which share
  // that kv head and sit next to each other in q and out.
  const auto n_tasks = static_cast<std::size_t>(n_tokens) * static_cast<std::size_t>(cache.n_head_kv);
  for_each_task_strided(ctx, n_tasks, [&](std::size_t task, int thread) {
    // scratch: scores [group][n_kv], then acc [head_dim] for the generic loop.
    float* scratch = ctx.thread_scratch(thread, static_cast<std::size_t>(group * n_kv + head_dim));
    const auto t = static_cast<std::int64_t>(task / static_cast<std::size_t>(cache.n_head_kv));
    const int g = static_cast<int>(task % static_cast<std::size_t>(cache.n_head_kv));
    AttendArgs args{};
    args.k = cache.k + static_cast<std::int64_t>(g) * head_dim;
    args.v = cache.v + static_cast<std::int64_t>(g) * head_dim;
    args.kv_row = kv_row;
    std::tie(args.lo, args.hi) = visible_range(params, pos, n_kv, t);
    args.kv_mask = params.causal ? nullptr : kv_mask;
    const std::int64_t first = (t * params.n_head + static_cast<std::int64_t>(g) * group) * head_dim;
    args.q = q + first;
    args.out = out + first;
    args.n_q = group;
    args.head_dim = head_dim;
    args.scale = params.scale;
    args.scores = scratch;
    attend_generic(table, args, scratch + group * n_kv);
  });
}

}  // namespace qrag::kernels
