// matmul entry point: validates the weight view, quantizes activations and splits rows over threads.
#include <string>

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

}  // namespace

GgmlType activation_type(GgmlType type) {
  return find_kernel(kernel_table(IsaLevel::kScalar), type).act_type;
}

void matmul(KernelContext& ctx, const WeightView& w, const float* x, float* y, int n_batch) {
  const MatmulKernel& kernel = find_kernel(ctx.table(), w.type);
  validate(w, n_batch);
  if (n_batch == 0) return;

  MatmulArgs args{&w, kernel.act_type, x, static_cast<std::size_t>(w.n_cols) * sizeof(float), y, n_batch};
  if (kernel.act_type != GgmlType::F32) {
    // Quantized activations: [n_batch] rows of row_size(act_type, K) bytes.
    const std::size_t x_row_bytes = gguf::row_size(kernel.act_type, w.n_cols);
    auto* xq = static_cast<std::byte*>(ctx.scratch(x_row_bytes * static_cast<std::size_t>(n_batch)));
    const auto k = static_cast<std::size_t>(w.n_cols);
    const auto quantize_rows = [&](std::size_t begin, std::size_t end, int) {
      for (std::size_t b = begin; b < end; ++b) kernel.quantize(x + b * k, xq + b * x_row_bytes, w.n_cols);
    };
    // A single row is not worth waking the workers for.
    if (n_batch == 1) {
      quantize_rows(0, 1, 0);
    } else {
      ctx.pool().parallel_for(static_cast<std::size_t>(n_batch), quantize_rows);
    }
    args.x = xq;
    args.x_row_bytes = x_row_bytes;
  }

  // Below this many multiply-adds, waking the workers costs more than it saves.
  constexpr double kMinParallelWork = 32768.0;
  const double work = static_cast<double>(w.n_rows) * static_cast<double>(w.n_cols) * n_batch;
  if (work < kMinParallelWork) {
    kernel.rows(args, 0, w.n_rows);
    return;
  }
  ctx.pool().parallel_for(static_cast<std::size_t>(w.n_rows), [&](std::size_t begin, std::size_t end, int) {
    kernel.rows(args, static_cast<std::int64_t>(begin), static_cast<std::int64_t>(end));
  });
}

}  // namespace qrag::kernels
