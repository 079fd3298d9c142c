// Register tiling shared by the SIMD matmuls: R weight rows x B activation rows per micro-kernel.
#pragma once

#include <cstddef>
#include <cstdint>

#include <xmmintrin.h>

#include "kernels/dispatch.h"

namespace qrag::kernels {

// One micro-kernel call: rows w[r] (r < R) and activations x[b] (b < B) produce
// y[b * y_stride + r]. Strides are in bytes for w and x, in floats for y.
struct Tile {
  const std::byte* w;
  std::size_t w_stride;
  const std::byte* x;
  std::size_t x_stride;
  float* y;
  std::size_t y_stride;
  std::int64_t k;  // elements per row
};

// Internal linkage, so that each ISA's translation unit keeps its own copy.
namespace {

// At batch 1 the weights stream from memory once, and the loads of a tile stall on
// DRAM latency because the hardware prefetcher does not run far enough ahead.
// This requests the cache line at byte `offset` of rows `ahead` .. `ahead` + R - 1
// counted from the tile's first row (prefetches of addresses past the matrix do
// not fault).
template <int R>
inline void prefetch_rows_ahead(const Tile& t, int ahead, std::int64_t offset) {
  for (int r = 0; r < R; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(t.w + static_cast<std::size_t>(ahead + r) * t.w_stride + offset),
                 _MM_HINT_T0);
  }
}

}  // namespace

// Calls Kernel::run<rr, bb> for the remainder tile sizes rr <= R, bb <= B.
template <class Kernel, int R, int B>
void call_tile(int rr, int bb, const Tile& t) {
  if constexpr (R > 1) {
    if (rr < R) {
      call_tile<Kernel, R - 1, B>(rr, bb, t);
      return;
    }
  }
  if constexpr (B > 1) {
    if (bb < B) {
      call_tile<Kernel, R, B - 1>(rr, bb, t);
      return;
    }
  }
  Kernel::template run<R, B>(t);
}

// Walks the batch in panels of activation rows that fit in L2 (about 256 KiB),
// and within a panel rows [row_begin, row_end) in tiles of R rows, each against
// every batch tile of B activation rows. At batch 1 a weight tile is read once per
// call; at larger batches once per panel, while the panel stays in cache.
// Every micro-kernel size performs the same operations per output element, so
// neither the tiling nor the panels change a result bit.
template <class Kernel, int R, int B>
void run_tiles(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  const WeightView& w = *args.w;
  const auto* w_bytes = static_cast<const std::byte*>(w.data);
  const auto* x_bytes = static_cast<const std::byte*>(args.x);
  const auto n_rows = static_cast<std::size_t>(w.n_rows);
  constexpr std::size_t kPanelBytes = 256 * 1024;
  const auto fit = static_cast<int>(kPanelBytes / args.x_row_bytes);
  const int panel = fit < B ? B : fit - fit % B;
  for (int p0 = 0; p0 < args.n_batch; p0 += panel) {
    const int p1 = args.n_batch - p0 < panel ? args.n_batch : p0 + panel;  // no std::min: see dispatch.h
    for (std::int64_t r0 = row_begin; r0 < row_end; r0 += R) {
      const int rr = static_cast<int>(row_end - r0 < R ? row_end - r0 : R);
      for (int b0 = p0; b0 < p1; b0 += B) {
        const int bb = p1 - b0 < B ? p1 - b0 : B;
        const Tile tile{w_bytes + static_cast<std::size_t>(r0) * w.row_bytes,
                        w.row_bytes,
                        x_bytes + static_cast<std::size_t>(b0) * args.x_row_bytes,
                        args.x_row_bytes,
                        args.y + static_cast<std::size_t>(b0) * n_rows + static_cast<std::size_t>(r0),
                        n_rows,
                        w.n_cols};
        call_tile<Kernel, R, B>(rr, bb, tile);
      }
    }
  }
}

}  // namespace qrag::kernels
