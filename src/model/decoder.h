// Runs the forward pass of a decoder model over a batch of tokens from one or more sequences.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/kernels.h"
#include "model/kv_cache.h"
#include "model/matmul_observer.h"
#include "model/model.h"

namespace qrag::model {

// New tokens of one sequence, appended at the cache position length(seq).
struct SequenceInput {
  int seq = 0;                             // slot in the KvCache
  std::span<const std::int32_t> tokens;    // [n_tokens], at least one
  bool all_logits = false;                 // logits of every token, else only of the last
};

// Evaluates batches of tokens and returns logits. All sequences of one call go
// through the matrix products together, so each weight matrix is read once per
// call whatever the number of sequences. Borrows the model, the cache and the
// kernel context, which must outlive it. Not thread-safe (kernels parallelize
// inside each call). Results are bit-identical for any thread count because the
// kernels are.
class Decoder {
 public:
  Decoder(const Model& model, KvCache& cache, kernels::KernelContext& kernels);

  // Appends each input's tokens to its sequence and returns the logits rows
  //   [n_out][n_vocab] F32, for each input in order: all its tokens when
  // all_logits, else its last token. The span stays valid until the next call.
  // Throws qrag::Error when a sequence id repeats or is out of range, a token id
  // is outside the vocabulary, or a sequence would grow past n_ctx; the cache is
  // unchanged in that case.
  std::span<const float> decode(std::span<const SequenceInput> inputs);

  // Passes the input of every weight matmul of later decode() calls to
  // `observer` (borrowed, must outlive its use), or stops when null. Without an
  // observer a matmul costs one extra null check.
  void set_matmul_observer(MatmulObserver* observer);

  const Model& model() const { return *model_; }
  KvCache& cache() { return *cache_; }
  kernels::KernelContext& kernels() { return *kernels_; }

 private:
  struct Segment {      // rows of one sequence inside the batch
    int seq;
    std::int64_t row0;  // first row in the batch
    std::int64_t n;     // rows
  };

  void matmul(const kernels::WeightView& w, const float* x, float* y, std::int64_t n_tokens);
  // Runs matmul() for each job on one input x, in one pass over the thread pool
  // when the weights allow it (see decoder.cpp).
  void matmul_shared(std::span<const kernels::MatmulJob> jobs, const float* x, std::int64_t n_tokens);
  // Returns a copy of x ([n] floats) rounded to F16 values, stored in x_f16_.
  const float* rounded_to_f16(const float* x, std::int64_t n);
  void validate(std::span<const SequenceInput> inputs) const;
  void resize(std::int64_t n_tokens, std::int64_t n_out);
  // Blocks, in decoder_blocks.cpp.
  void project_qkv(std::int64_t il, std::int64_t n_tokens);
  void attention_block(std::int64_t il, std::int64_t n_tokens);
  void ffn_block(std::int64_t il, std::int64_t n_tokens);
  void output_head(std::span<const SequenceInput> inputs, std::int64_t n_out);

  static float* row(std::vector<float>& buffer, std::int64_t index, std::int64_t width);

  const Model* model_;
  KvCache* cache_;
  kernels::KernelContext* kernels_;
  std::vector<Segment> segments_;
  MatmulObserver* observer_ = nullptr;
  // GGUF tensor name of each weight's data (WeightView carries no name), filled
  // by set_matmul_observer.
  std::unordered_map<const void*, std::string> weight_names_;

  // Scratch, one row per batch token (n_tokens rows), reused across calls.
  std::vector<float> x_;      // [n_tokens][n_embd] residual stream
  std::vector<float> cur_;    // [n_tokens][n_embd] normed input of a block / block output
  std::vector<float> q_;      // [n_tokens][n_head*head_dim]
  std::vector<float> k_;      // [n_tokens][n_head_kv*head_dim]
  std::vector<float> v_;      // [n_tokens][n_head_kv*head_dim]
  std::vector<float> attn_;   // [n_tokens][n_head*head_dim] attention output
  std::vector<float> gate_;   // [n_tokens][n_ff]
  std::vector<float> up_;     // [n_tokens][n_ff]
  std::vector<float> x_f16_;  // [n_tokens][n_cols] activations rounded to F16 for F16 weights
  std::vector<std::int32_t> pos_;  // [n_tokens] cache position of each row
  std::vector<float> rows_;   // [n_out][n_embd] normed rows that need logits
  std::vector<float> logits_;  // [n_out][n_vocab]
};

}  // namespace qrag::model
