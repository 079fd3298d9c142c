// F16 key/value cache with an explicit context size, one slot per sequence.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernels.h"
#include "model/hparams.h"

namespace qrag::model {

// Keys and values of every layer for n_seq independent sequences of up to n_ctx
// positions each. Layout of k_ and v_ (F16 bits):
//   [n_seq][n_layer][n_ctx][n_head_kv*head_dim]
// so one (sequence, layer) pair is the contiguous kernels::KvCacheView layout.
// The Decoder appends at length(seq); positions beyond it are stale.
// Not thread-safe: one decode or edit at a time.
class KvCache {
 public:
  // Allocates the whole cache up front (bytes() returns its size). Throws
  // qrag::Error when n_ctx < 1 or n_seq < 1.
  KvCache(const Hparams& hparams, std::int64_t n_ctx, int n_seq);

  std::int64_t n_ctx() const { return n_ctx_; }
  int n_seq() const { return n_seq_; }
  std::size_t bytes() const { return (k_.size() + v_.size()) * sizeof(kernels::f16_bits); }

  // Number of cached positions of `seq` (the next token goes to this position).
  std::int64_t length(int seq) const;
  // Forgets positions [n, length) of `seq`; n <= length(seq).
  void truncate(int seq, std::int64_t n);
  void clear(int seq) { truncate(seq, 0); }
  // Copies positions [0, n) of sequence `src` to `dst` in every layer and sets
  // length(dst) = n, e.g. to reuse a shared prompt prefix. Throws qrag::Error
  // when n > length(src) or a sequence id is out of range.
  void copy_prefix(int src, int dst, std::int64_t n);

  // The cache of layer il for `seq`.
  kernels::KvCacheView view(int seq, std::int64_t il);
  // Records that positions up to n - 1 of `seq` are now filled (Decoder only).
  void set_length(int seq, std::int64_t n);

 private:
  void check_seq(int seq) const;
  std::size_t offset(int seq, std::int64_t il) const;

  std::int64_t n_layer_;
  std::int64_t n_embd_kv_;
  int n_head_kv_;
  int head_dim_;
  std::int64_t n_ctx_;
  int n_seq_;
  std::vector<kernels::f16_bits> k_;    // [n_seq][n_layer][n_ctx][n_embd_kv]
  std::vector<kernels::f16_bits> v_;    // same layout as k_
  std::vector<std::int64_t> lengths_;  // [n_seq]
};

}  // namespace qrag::model
