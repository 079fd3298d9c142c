// Interface for code that inspects the input of every weight matrix product of a decoder's forward pass.
#pragma once

#include <cstdint>
#include <string_view>

namespace qrag::model {

// Receives the activations that Decoder multiplies with each weight matrix
// (engine::ImatrixCollector implements it). Decoder calls observe() once per
// matmul, on the thread that called decode(), before the product is computed.
class MatmulObserver {
 public:
  virtual ~MatmulObserver() = default;

  // x [n_rows][n_cols] F32 is the input of one product with the weight tensor
  // `weight_name` (its GGUF name, "blk.0.attn_q.weight"), taken before any
  // rounding of the activations to the weight's precision. n_cols is the
  // weight's row length. x and weight_name are valid during the call only.
  virtual void observe(std::string_view weight_name, const float* x, std::int64_t n_rows, std::int64_t n_cols) = 0;
};

}  // namespace qrag::model
