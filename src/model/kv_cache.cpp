// KV cache allocation, per-sequence bookkeeping and prefix copies.
#include "model/kv_cache.h"

#include <algorithm>

#include <fmt/core.h>

#include "core/check.h"
#include "core/error.h"

namespace qrag::model {

KvCache::KvCache(const Hparams& hparams, std::int64_t n_ctx, int n_seq)
    : n_layer_(hparams.n_layer),
      n_embd_kv_(hparams.n_embd_kv()),
      n_head_kv_(static_cast<int>(hparams.n_head_kv)),
      head_dim_(static_cast<int>(hparams.head_dim)),
      n_ctx_(n_ctx),
      n_seq_(n_seq) {
  if (n_ctx < 1) throw Error(fmt::format("context size {} must be at least 1", n_ctx));
  if (n_seq < 1) throw Error(fmt::format("number of sequences {} must be at least 1", n_seq));
  const auto n = static_cast<std::size_t>(n_seq) * static_cast<std::size_t>(n_layer_) *
                 static_cast<std::size_t>(n_ctx) * static_cast<std::size_t>(n_embd_kv_);
  k_.assign(n, 0);
  v_.assign(n, 0);
  lengths_.assign(static_cast<std::size_t>(n_seq), 0);
}

void KvCache::check_seq(int seq) const {
  if (seq < 0 || seq >= n_seq_) {
    throw Error(fmt::format("sequence id {} is out of range [0, {})", seq, n_seq_));
  }
}

std::size_t KvCache::offset(int seq, std::int64_t il) const {
  return ((static_cast<std::size_t>(seq) * static_cast<std::size_t>(n_layer_) + static_cast<std::size_t>(il)) *
          static_cast<std::size_t>(n_ctx_)) *
         static_cast<std::size_t>(n_embd_kv_);
}

std::int64_t KvCache::length(int seq) const {
  check_seq(seq);
  return lengths_[static_cast<std::size_t>(seq)];
}

void KvCache::truncate(int seq, std::int64_t n) {
  check_seq(seq);
  if (n < 0 || n > lengths_[static_cast<std::size_t>(seq)]) {
    throw Error(fmt::format("cannot truncate sequence {} of length {} to {}", seq,
                            lengths_[static_cast<std::size_t>(seq)], n));
  }
  lengths_[static_cast<std::size_t>(seq)] = n;
}

void KvCache::copy_prefix(int src, int dst, std::int64_t n) {
  check_seq(src);
  check_seq(dst);
  if (n < 0 || n > lengths_[static_cast<std::size_t>(src)]) {
    throw Error(fmt::format("cannot copy a prefix of {} positions from sequence {} of length {}", n, src,
                            lengths_[static_cast<std::size_t>(src)]));
  }
  if (src != dst) {
    const auto count = static_cast<std::size_t>(n * n_embd_kv_);
    for (std::int64_t il = 0; il < n_layer_; ++il) {
      std::copy_n(k_.begin() + static_cast<std::ptrdiff_t>(offset(src, il)), count,
                  k_.begin() + static_cast<std::ptrdiff_t>(offset(dst, il)));
      std::copy_n(v_.begin() + static_cast<std::ptrdiff_t>(offset(src, il)), count,
                  v_.begin() + static_cast<std::ptrdiff_t>(offset(dst, il)));
    }
  }
  lengths_[static_cast<std::size_t>(dst)] = n;
}

kernels::KvCacheView KvCache::view(int seq, std::int64_t il) {
  check_seq(seq);
  QRAG_CHECK(il >= 0 && il < n_layer_, "layer index out of range");
  kernels::KvCacheView view;
  view.k = k_.data() + offset(seq, il);
  view.v = v_.data() + offset(seq, il);
  view.n_ctx = n_ctx_;
  view.n_head_kv = n_head_kv_;
  view.head_dim = head_dim_;
  return view;
}

void KvCache::set_length(int seq, std::int64_t n) {
  check_seq(seq);
  QRAG_CHECK(n >= 0 && n <= n_ctx_, "sequence length beyond the context size");
  lengths_[static_cast<std::size_t>(seq)] = n;
}

}  // namespace qrag::model
