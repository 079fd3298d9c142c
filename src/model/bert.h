// BERT encoder forward pass (MiniLM, bge, Contriever, DPR) over a GGUF file with llama.cpp's bert tensor names.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "gguf/gguf_file.h"
#include "kernels/kernels.h"

namespace qrag::model {

// llama.cpp's pooling ids (`bert.pooling_type`).
enum class BertPooling : std::uint32_t { kNone = 0, kMean = 1, kCls = 2, kLast = 3 };

struct BertHparams {
  std::int64_t n_embd = 0;
  std::int64_t n_layer = 0;
  std::int64_t n_head = 0;
  std::int64_t n_ff = 0;
  std::int64_t n_ctx = 0;          // max positions (position_embd rows)
  std::int64_t n_token_types = 0;  // token_types rows
  std::int64_t n_vocab = 0;
  float norm_eps = 1e-12f;
  BertPooling pooling = BertPooling::kMean;  // from the file; kMean when absent
};

struct BertLayer {
  kernels::WeightView wq, wk, wv, wo;  // [n_embd][n_embd]
  kernels::WeightView ffn_up;          // n_ff rows of n_embd
  kernels::WeightView ffn_down;        // n_embd rows of n_ff
  const float* bq = nullptr;           // [n_embd] (all biases and norms below too, unless stated)
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* bo = nullptr;
  const float* attn_norm_w = nullptr;
  const float* attn_norm_b = nullptr;
  const float* ffn_up_b = nullptr;     // [n_ff]
  const float* ffn_down_b = nullptr;
  const float* out_norm_w = nullptr;
  const float* out_norm_b = nullptr;
};

// A BERT encoder. Borrows the GgufFile (which must outlive it); keeps dequantized
// copies of non-F32 vectors. encode() is const and keeps no state, but the
// KernelContext it takes is not thread-safe.
class BertModel {
 public:
  // Reads `bert.*` metadata and checks every tensor's shape. Throws qrag::Error
  // naming the key or tensor when the file is not a usable bert encoder.
  static BertModel load(const gguf::GgufFile& file);

  const BertHparams& hparams() const { return hparams_; }

  // Runs the encoder over `sequences` (token ids with [CLS]/[SEP] already added,
  // each 1..n_ctx long) packed into one batch, so no compute is spent on padding:
  // attention is bidirectional within each sequence only. Returns the pooled
  // embeddings, [sequences.size()][n_embd] row-major, not normalised.
  // kNone is rejected (qrag::Error) because it has no single vector per text.
  std::vector<float> encode(kernels::KernelContext& ctx, std::span<const std::vector<std::int32_t>> sequences,
                            BertPooling pooling) const;

 private:
  void embed_tokens(std::span<const std::vector<std::int32_t>> sequences, float* x) const;
  void run_layer(kernels::KernelContext& ctx, const BertLayer& layer,
                 std::span<const std::vector<std::int32_t>> sequences, float* x, std::int64_t n_tokens) const;

  BertHparams hparams_;
  kernels::WeightView tok_embd_;   // n_vocab rows of n_embd (any dequantizable type)
  kernels::WeightView pos_embd_;   // n_ctx rows of n_embd
  kernels::WeightView type_embd_;  // n_token_types rows of n_embd
  const float* embd_norm_w_ = nullptr;  // [n_embd]
  const float* embd_norm_b_ = nullptr;  // [n_embd]
  std::vector<BertLayer> layers_;
  std::deque<std::vector<float>> storage_;  // dequantized vectors referenced above
};

}  // namespace qrag::model
