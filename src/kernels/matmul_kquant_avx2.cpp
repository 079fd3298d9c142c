// AVX2 matmul for the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) against Q8_K activations.
#include <immintrin.h>

#include <cstring>

#include "kernels/dispatch.h"
#include "kernels/kquant_decode.h"
#include "kernels/simd_quant.h"
#include "kernels/tiles.h"
#include "tensor/blocks.h"

namespace qrag::kernels {
namespace {

template <class Kernel>
void rows(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  run_tiles<Kernel, 1, 4>(args, row_begin, row_end);
}

}  // namespace

void fill_avx2_kquant(KernelTable& table) {
  const auto set = [&](GgmlType type, MatmulRowsFn fn) {
    MatmulKernel& kernel = table.matmul[static_cast<int>(type)];
    kernel.quantize = quantize_q8_k_simd;  // the reference's bits, see quantize_block_q8_k
    kernel.rows = fn;
  };
  set(GgmlType::Q2_K, rows<KQuantTile<Q2K, Avx2Dot>>);
  set(GgmlType::Q3_K, rows<KQuantTile<Q3K, Avx2Dot>>);
  set(GgmlType::Q4_K, rows<KQuantTile<Q4K, Avx2Dot>>);
  set(GgmlType::Q5_K, rows<KQuantTile<Q5K, Avx2Dot>>);
  set(GgmlType::Q6_K, rows<KQuantTile<Q6K, Avx2Dot>>);
}

}  // namespace qrag::kernels
