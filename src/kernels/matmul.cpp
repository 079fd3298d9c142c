// matmul entry point: validates the weight view, quantizes activations and splits rows over threads.
#include <algorithm>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/kernels.h"

namespace qrag::kernels {
namespace {

const MatmulKernel& find_kernel(const KernelTable& table, GgmlType type) {
  const auto id = static_cast<std::uint32_t>(type);
  if (id >= static_cast<std::uint32_t>(kMaxTypeId) || table.matmul[id].rows == nullptr) {
    throw Error("matmul: weight type " + std::string(gguf::type_name(type)) +
                " is not supported; convert the model to f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, "
                "q2_K..q6_K or iq4_nl");
  }
  return table.matmul[id];
}

void validate(const WeightView& w, int n_batch) {
  const auto& layout = gguf::type_layout(w.type);
  if (w.n_cols <= 0 || w.n_rows <= 0 || n_batch < 0) {
    throw Error("matmul: invalid shape " + std::to_string(w.n_rows) + "x" + std::to_string(w.n_cols) +
                ", batch " + std::to_string(n_batch));
  }
  if (w.n_cols % layout.block_size != 0) {
    throw Error("matmul: row length " + std::to_string(w.n_cols) + " is not a multiple of the " +
                std::string(layout.name) + " block size " + std::to_string(layout.block_size));
  }
  if (w.data == nullptr) throw Error("matmul: weight data is null");
  if (w.row_bytes < gguf::row_size(w.type, w.n_cols)) {
    throw Error("matmul: row stride " + std::to_string(w.row_bytes) + " bytes is below the row size " +
                std::to_string(gguf::row_size(w.type, w.n_cols)));
  }
}

// Quantizes the n_batch rows of x (K floats each) into xq, rows x_row_bytes apart.
void quantize_activations(KernelContext& ctx, const MatmulKernel& kernel, const float* x, std::byte* xq,
                          std::size_t x_row_bytes, std::int64_t k, int n_batch) {
  const auto quantize_rows = [&](std::size_t begin, std::size_t end, int) {
    for (std::size_t b = begin; b < end; ++b) {
      kernel.quantize(x + b * static_cast<std::size_t>(k), xq + b * x_row_bytes, k);
    }
  };
  // A single row is not worth waking the workers for.
  if (n_batch == 1) {
    quantize_rows(0, 1, 0);
  } else {
    ctx.pool().parallel_for(static_cast<std::size_t>(n_batch), quantize_rows);
  }
}

}  // namespace

GgmlType activation_type(GgmlType type) {
  return find_kernel(kernel_table(IsaLevel::kScalar), type).act_type;
}

void matmul(KernelContext& ctx, const WeightView& w, const float* x, float* y, int n_batch) {
  const MatmulJob job{&w, y};
  matmul_group(ctx, {&job, 1}, x, n_batch);
}

void matmul_group(KernelContext& ctx, std::span<const MatmulJob> jobs, const float* x, int n_batch) {
  // Per job: its kernel, its activation rows and its first row in the concatenation.
  struct Prepared {
    const MatmulKernel* kernel;
    MatmulArgs args;
    std::size_t row0;
  };
  std::vector<Prepared> prepared;
  prepared.reserve(jobs.size());
  std::size_t total_rows = 0;
  std::size_t scratch_bytes = 0;
  for (const MatmulJob& job : jobs) {
    const MatmulKernel& kernel = find_kernel(ctx.table(), job.w->type);
    validate(*job.w, n_batch);
    if (job.w->n_cols != jobs[0].w->n_cols) {
      throw Error("matmul: grouped weights have row lengths " + std::to_string(jobs[0].w->n_cols) + " and " +
                  std::to_string(job.w->n_cols));
    }
    MatmulArgs args{job.w, kernel.act_type, x, static_cast<std::size_t>(job.w->n_cols) * sizeof(float), job.y,
                    n_batch};
    if (kernel.act_type != GgmlType::F32) {
      args.x_row_bytes = gguf::row_size(kernel.act_type, job.w->n_cols);
      scratch_bytes += args.x_row_bytes * static_cast<std::size_t>(n_batch) + 64;
    }
    prepared.push_back({&kernel, args, total_rows});
    total_rows += static_cast<std::size_t>(job.w->n_rows);
  }
  if (n_batch == 0 || prepared.empty()) return;

  // Quantized activations, once per activation type: [n_batch] rows of
  // row_size(act_type, K) bytes each, cache-line aligned.
  auto* scratch = static_cast<std::byte*>(ctx.scratch(scratch_bytes));
  for (std::size_t i = 0; i < prepared.size(); ++i) {
    Prepared& p = prepared[i];
    if (p.args.act_type == GgmlType::F32) continue;
    const auto same = std::find_if(prepared.begin(), prepared.begin() + static_cast<std::ptrdiff_t>(i),
                                   [&](const Prepared& q) { return q.args.act_type == p.args.act_type; });
    if (same != prepared.begin() + static_cast<std::ptrdiff_t>(i)) {
      p.args.x = same->args.x;
      continue;
    }
    std::byte* xq = scratch;
    scratch += (p.args.x_row_bytes * static_cast<std::size_t>(n_batch) + 63) / 64 * 64;
    quantize_activations(ctx, *p.kernel, x, xq, p.args.x_row_bytes, p.args.w->n_cols, n_batch);
    p.args.x = xq;
  }

  // Per-thread kernel scratch, in floats: the largest any job requests.
  std::size_t thread_floats = 0;
  for (const Prepared& p : prepared) {
    if (p.kernel->scratch_bytes != nullptr) {
      thread_floats = std::max(thread_floats, (p.kernel->scratch_bytes(n_batch, p.args.w->n_cols) + 64) / 4 + 1);
    }
  }
  // Rows [begin, end) of the concatenated outputs, job by job, on thread `thread`.
  const auto run_rows = [&](std::size_t begin, std::size_t end, int thread) {
    void* thread_scratch = nullptr;
    if (thread_floats > 0) {
      const auto address = reinterpret_cast<std::uintptr_t>(ctx.thread_scratch(thread, thread_floats));
      thread_scratch = reinterpret_cast<void*>((address + 63) & ~static_cast<std::uintptr_t>(63));
    }
    for (const Prepared& p : prepared) {
      const std::size_t lo = std::max(begin, p.row0);
      const std::size_t hi = std::min(end, p.row0 + static_cast<std::size_t>(p.args.w->n_rows));
      if (lo >= hi) continue;
      MatmulArgs args = p.args;
      args.scratch = p.kernel->scratch_bytes != nullptr ? thread_scratch : nullptr;
      p.kernel->rows(args, static_cast<std::int64_t>(lo - p.row0), static_cast<std::int64_t>(hi - p.row0));
    }
  };
  // Below this many multiply-adds, waking the workers costs more than it saves.
  constexpr double kMinParallelWork = 32768.0;
  const double work = static_cast<double>(total_rows) * static_cast<double>(jobs[0].w->n_cols) * n_batch;
  if (work < kMinParallelWork) {
    run_rows(0, total_rows, 0);
    return;
  }
  ctx.pool().parallel_for(total_rows, run_rows);
}

}  // namespace qrag::kernels
