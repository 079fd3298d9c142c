// BERT encoder: embeddings + LayerNorm, post-LayerNorm blocks with exact GELU, bidirectional attention, pooling.
#include "model/bert.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/check.h"
#include "core/error.h"
#include "model/tensor_loader.h"
#include "tensor/quantize.h"
#include "tensor/fp16.h"

namespace qrag::model {
namespace {

std::int64_t positive_key(const gguf::GgufFile& file, const char* key) {
  const std::uint64_t v = file.get_uint(key);
  if (v == 0 || v > (1u << 24)) throw Error(fmt::format("{}: value {} is out of range", key, v));
  return static_cast<std::int64_t>(v);
}

// Adds bias [n] to each of n_rows rows of x [n_rows][n].
void add_bias(const kernels::KernelContext& ctx, float* x, const float* bias, std::int64_t n, std::int64_t n_rows) {
  for (std::int64_t r = 0; r < n_rows; ++r) kernels::add(ctx, x + r * n, bias, x + r * n, n);
}

// Adds row `row` of an embedding table to out [n].
void add_row(const kernels::WeightView& table, std::int64_t row, float* out, std::vector<float>& tmp) {
  tmp.resize(static_cast<std::size_t>(table.n_cols));
  const auto* bytes = static_cast<const std::uint8_t*>(table.data) + static_cast<std::size_t>(row) * table.row_bytes;
  tensor::dequantize_row(table.type, bytes, tmp.data(), table.n_cols);
  for (std::int64_t i = 0; i < table.n_cols; ++i) out[i] += tmp[static_cast<std::size_t>(i)];
}

}  // namespace

BertModel BertModel::load(const gguf::GgufFile& file) {
  return with_context(file.path().string(), [&] {
    if (file.architecture() != "bert") {
      throw Error(fmt::format("general.architecture is '{}', expected 'bert'", file.architecture()));
    }
    BertModel m;
    BertHparams& hp = m.hparams_;
    hp.n_embd = positive_key(file, "bert.embedding_length");
    hp.n_layer = positive_key(file, "bert.block_count");
    hp.n_head = positive_key(file, "bert.attention.head_count");
    hp.n_ff = positive_key(file, "bert.feed_forward_length");
    hp.n_ctx = positive_key(file, "bert.context_length");
    hp.norm_eps = static_cast<float>(file.get_float("bert.attention.layer_norm_epsilon"));
    const std::uint64_t pooling = file.find_uint("bert.pooling_type").value_or(1);
    if (pooling > 3) throw Error(fmt::format("bert.pooling_type: {} is not one of 0 (none), 1 (mean), 2 (cls), 3 (last)", pooling));
    hp.pooling = static_cast<BertPooling>(pooling);
    if (hp.n_embd % hp.n_head != 0) {
      throw Error(fmt::format("bert.embedding_length {} is not a multiple of head_count {}", hp.n_embd, hp.n_head));
    }
    const gguf::TensorInfo* tok = file.find_tensor("token_embd.weight");
    if (tok == nullptr) throw Error("tensor 'token_embd.weight' not found");
    hp.n_vocab = tok->ne[1];
    const gguf::TensorInfo* types = file.find_tensor("token_types.weight");
    hp.n_token_types = types != nullptr ? types->ne[1] : 1;

    TensorLoader loader(file);
    m.tok_embd_ = loader.matrix("token_embd.weight", hp.n_embd, hp.n_vocab);
    m.pos_embd_ = loader.matrix("position_embd.weight", hp.n_embd, hp.n_ctx);
    m.type_embd_ = loader.matrix("token_types.weight", hp.n_embd, hp.n_token_types);
    m.embd_norm_w_ = loader.vector("token_embd_norm.weight", hp.n_embd);
    m.embd_norm_b_ = loader.vector("token_embd_norm.bias", hp.n_embd);
    for (std::int64_t il = 0; il < hp.n_layer; ++il) {
      const auto name = [&](const char* n) { return fmt::format("blk.{}.{}", il, n); };
      BertLayer l;
      l.wq = loader.matrix(name("attn_q.weight"), hp.n_embd, hp.n_embd);
      l.wk = loader.matrix(name("attn_k.weight"), hp.n_embd, hp.n_embd);
      l.wv = loader.matrix(name("attn_v.weight"), hp.n_embd, hp.n_embd);
      l.wo = loader.matrix(name("attn_output.weight"), hp.n_embd, hp.n_embd);
      l.ffn_up = loader.matrix(name("ffn_up.weight"), hp.n_embd, hp.n_ff);
      l.ffn_down = loader.matrix(name("ffn_down.weight"), hp.n_ff, hp.n_embd);
      l.bq = loader.vector(name("attn_q.bias"), hp.n_embd);
      l.bk = loader.vector(name("attn_k.bias"), hp.n_embd);
      l.bv = loader.vector(name("attn_v.bias"), hp.n_embd);
      l.bo = loader.vector(name("attn_output.bias"), hp.n_embd);
      l.attn_norm_w = loader.vector(name("attn_output_norm.weight"), hp.n_embd);
      l.attn_norm_b = loader.vector(name("attn_output_norm.bias"), hp.n_embd);
      l.ffn_up_b = loader.vector(name("ffn_up.bias"), hp.n_ff);
      l.ffn_down_b = loader.vector(name("ffn_down.bias"), hp.n_embd);
      l.out_norm_w = loader.vector(name("layer_output_norm.weight"), hp.n_embd);
      l.out_norm_b = loader.vector(name("layer_output_norm.bias"), hp.n_embd);
      m.layers_.push_back(l);
    }
    for (const auto& unused : loader.unused()) spdlog::debug("bert: tensor '{}' is not used", unused);
    m.storage_ = std::move(loader.storage());
    return m;
  });
}

void BertModel::embed_tokens(std::span<const std::vector<std::int32_t>> sequences, float* x) const {
  const std::int64_t n_embd = hparams_.n_embd;
  std::vector<float> tmp;  // [n_embd] one dequantized row
  std::int64_t t = 0;
  for (const auto& seq : sequences) {
    for (std::size_t pos = 0; pos < seq.size(); ++pos, ++t) {
      float* row = x + t * n_embd;
      std::fill(row, row + n_embd, 0.0f);
      if (seq[pos] < 0 || seq[pos] >= hparams_.n_vocab) {
        throw Error(fmt::format("token id {} is outside the vocabulary of {} tokens", seq[pos], hparams_.n_vocab));
      }
      add_row(tok_embd_, seq[pos], row, tmp);
      add_row(pos_embd_, static_cast<std::int64_t>(pos), row, tmp);
      add_row(type_embd_, 0, row, tmp);  // single-segment input: token type 0
    }
  }
}

void BertModel::run_layer(kernels::KernelContext& ctx, const BertLayer& l,
                          std::span<const std::vector<std::int32_t>> sequences, float* x, std::int64_t n_tokens) const {
  const std::int64_t e = hparams_.n_embd, ff = hparams_.n_ff;
  const int n_head = static_cast<int>(hparams_.n_head);
  const int head_dim = static_cast<int>(e / hparams_.n_head);
  const auto n = static_cast<std::size_t>(n_tokens);
  const int batch = static_cast<int>(n_tokens);
  std::vector<float> q(n * e), k(n * e), v(n * e), attn(n * e), tmp(n * e);  // each [n_tokens][n_embd]
  kernels::matmul(ctx, l.wq, x, q.data(), batch);
  kernels::matmul(ctx, l.wk, x, k.data(), batch);
  kernels::matmul(ctx, l.wv, x, v.data(), batch);
  add_bias(ctx, q.data(), l.bq, e, n_tokens);
  add_bias(ctx, k.data(), l.bk, e, n_tokens);
  add_bias(ctx, v.data(), l.bv, e, n_tokens);

  // Attention within each sequence: its keys and values go to an F16 cache of its length.
  kernels::AttentionParams params;
  params.n_head = n_head;
  params.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  params.causal = false;
  std::int64_t start = 0;
  for (const auto& seq : sequences) {
    const auto len = static_cast<std::int64_t>(seq.size());
    std::vector<std::int32_t> pos(seq.size());  // [len]
    for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<std::int32_t>(i);
    std::vector<kernels::f16_bits> kc(seq.size() * e), vc(seq.size() * e);  // [len][n_head][head_dim]
    const kernels::KvCacheView cache{kc.data(), vc.data(), len, n_head, head_dim};
    kernels::store_kv(ctx, cache, k.data() + start * e, v.data() + start * e, len, pos.data());
    kernels::attention(ctx, params, cache, q.data() + start * e, len, pos.data(), len, nullptr,
                       attn.data() + start * e);
    start += len;
  }

  kernels::matmul(ctx, l.wo, attn.data(), tmp.data(), batch);
  add_bias(ctx, tmp.data(), l.bo, e, n_tokens);
  kernels::add(ctx, x, tmp.data(), x, n_tokens * e);
  kernels::layer_norm(ctx, x, l.attn_norm_w, l.attn_norm_b, x, e, n_tokens, hparams_.norm_eps);

  std::vector<float> up(n * ff);  // [n_tokens][n_ff]
  kernels::matmul(ctx, l.ffn_up, x, up.data(), batch);
  add_bias(ctx, up.data(), l.ffn_up_b, ff, n_tokens);
  kernels::gelu_erf(ctx, up.data(), up.data(), n_tokens * ff);
  kernels::matmul(ctx, l.ffn_down, up.data(), tmp.data(), batch);
  add_bias(ctx, tmp.data(), l.ffn_down_b, e, n_tokens);
  kernels::add(ctx, x, tmp.data(), x, n_tokens * e);
  kernels::layer_norm(ctx, x, l.out_norm_w, l.out_norm_b, x, e, n_tokens, hparams_.norm_eps);
}

std::vector<float> BertModel::encode(kernels::KernelContext& ctx, std::span<const std::vector<std::int32_t>> sequences,
                                     BertPooling pooling) const {
  if (pooling == BertPooling::kNone) throw Error("pooling 'none' gives no single embedding per text; use mean, cls or last");
  const std::int64_t e = hparams_.n_embd;
  std::int64_t n_tokens = 0;
  for (const auto& seq : sequences) {
    if (seq.empty() || static_cast<std::int64_t>(seq.size()) > hparams_.n_ctx) {
      throw Error(fmt::format("sequence of {} tokens; expected 1 to {} (bert.context_length)", seq.size(), hparams_.n_ctx));
    }
    n_tokens += static_cast<std::int64_t>(seq.size());
  }
  std::vector<float> out(sequences.size() * static_cast<std::size_t>(e), 0.0f);  // [n_seq][n_embd]
  if (n_tokens == 0) return out;

  std::vector<float> x(static_cast<std::size_t>(n_tokens * e));  // [n_tokens][n_embd], sequences packed
  embed_tokens(sequences, x.data());
  kernels::layer_norm(ctx, x.data(), embd_norm_w_, embd_norm_b_, x.data(), e, n_tokens, hparams_.norm_eps);
  for (const BertLayer& layer : layers_) run_layer(ctx, layer, sequences, x.data(), n_tokens);

  std::int64_t start = 0;
  for (std::size_t s = 0; s < sequences.size(); ++s) {
    const auto len = static_cast<std::int64_t>(sequences[s].size());
    float* dst = out.data() + s * static_cast<std::size_t>(e);
    if (pooling == BertPooling::kMean) {
      for (std::int64_t t = 0; t < len; ++t) kernels::add(ctx, dst, x.data() + (start + t) * e, dst, e);
      kernels::scale(ctx, dst, 1.0f / static_cast<float>(len), dst, e);
    } else {
      const std::int64_t t = pooling == BertPooling::kCls ? start : start + len - 1;
      std::copy(x.data() + t * e, x.data() + (t + 1) * e, dst);
    }
    start += len;
  }
  return out;
}

}  // namespace qrag::model
