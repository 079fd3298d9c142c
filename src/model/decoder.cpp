// Forward pass of the decoder families: batching, embeddings and the output head (blocks in decoder_blocks.cpp).
#include "model/decoder.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/core.h>

#include "core/check.h"
#include "core/error.h"

namespace qrag::model {

float* Decoder::row(std::vector<float>& buffer, std::int64_t index, std::int64_t width) {
  return buffer.data() + index * width;
}

Decoder::Decoder(const Model& model, KvCache& cache, kernels::KernelContext& kernels)
    : model_(&model), cache_(&cache), kernels_(&kernels) {}

void Decoder::set_matmul_observer(MatmulObserver* observer) {
  observer_ = observer;
  weight_names_.clear();
  if (observer == nullptr) return;
  // Every WeightView points at its tensor's data inside the mapped file, so the
  // data address identifies the tensor. A tied output matrix is token_embd's data
  // and is reported under that name, the tensor a quantizer would weight.
  for (const gguf::TensorInfo& info : model_->file().tensors()) {
    weight_names_.emplace(model_->file().tensor_data(info).data(), info.name);
  }
}

void Decoder::validate(std::span<const SequenceInput> inputs) const {
  if (inputs.empty()) throw Error("decode: no input sequences");
  std::set<int> seen;
  const std::int64_t n_vocab = model_->hparams().n_vocab;
  for (const SequenceInput& input : inputs) {
    if (!seen.insert(input.seq).second) {
      throw Error(fmt::format("decode: sequence {} appears twice in one batch", input.seq));
    }
    const std::int64_t length = cache_->length(input.seq);  // also checks the id
    if (input.tokens.empty()) throw Error(fmt::format("decode: sequence {} has no tokens", input.seq));
    const auto n = static_cast<std::int64_t>(input.tokens.size());
    if (length + n > cache_->n_ctx()) {
      throw Error(fmt::format("decode: sequence {} would reach {} tokens ({} cached + {} new), beyond the "
                              "context size {}",
                              input.seq, length + n, length, n, cache_->n_ctx()));
    }
    for (const std::int32_t token : input.tokens) {
      if (token < 0 || token >= n_vocab) {
        throw Error(fmt::format("decode: token id {} is outside the vocabulary [0, {})", token, n_vocab));
      }
    }
  }
}

void Decoder::resize(std::int64_t n_tokens, std::int64_t n_out) {
  const Hparams& hp = model_->hparams();
  auto fit = [](std::vector<float>& buffer, std::int64_t n) {
    if (buffer.size() < static_cast<std::size_t>(n)) buffer.resize(static_cast<std::size_t>(n));
  };
  fit(x_, n_tokens * hp.n_embd);
  fit(cur_, n_tokens * hp.n_embd);
  fit(q_, n_tokens * hp.n_embd_q());
  fit(k_, n_tokens * hp.n_embd_kv());
  fit(v_, n_tokens * hp.n_embd_kv());
  fit(attn_, n_tokens * hp.n_embd_q());
  fit(gate_, n_tokens * hp.n_ff);
  fit(up_, n_tokens * hp.n_ff);
  fit(rows_, n_out * hp.n_embd);
  fit(logits_, n_out * hp.n_vocab);
  pos_.resize(static_cast<std::size_t>(n_tokens));
}

// ggml multiplies F16 weights with activations rounded to F16, but kernels::matmul
// widens the weights and keeps F32 activations. Rounding a copy of x first gives
// ggml's products (F16 x F16 is exact in F32), so logits track llama.cpp's.
void Decoder::matmul(const kernels::WeightView& w, const float* x, float* y, std::int64_t n_tokens) {
  if (observer_ != nullptr) {
    const auto name = weight_names_.find(w.data);
    QRAG_CHECK(name != weight_names_.end(), "matmul weight does not point at a tensor of the model file");
    observer_->observe(name->second, x, n_tokens, w.n_cols);
  }
  if (w.type == gguf::GgmlType::F16) x = rounded_to_f16(x, n_tokens * w.n_cols);
  kernels::matmul(*kernels_, w, x, y, static_cast<int>(n_tokens));
}

const float* Decoder::rounded_to_f16(const float* x, std::int64_t n) {
  if (x_f16_.size() < static_cast<std::size_t>(n)) x_f16_.resize(static_cast<std::size_t>(n));
  kernels::round_to_f16(*kernels_, x, x_f16_.data(), n);
  return x_f16_.data();
}

// NOTE: while decoding, the model's small products (0.1-2 MB each) read their weights
// at about two thirds of the rate one large matrix reaches in the matmul benchmark. The
// cause is not yet isolated (see docs/performance.md, Model).
//
// One grouped kernel call needs one input for all weights. An observer receives
// each weight by name, and F16 weights take the rounded input. With an observer or
// a mix of F16 and other types, the weights therefore go through matmul() one at a time.
void Decoder::matmul_shared(std::span<const kernels::MatmulJob> jobs, const float* x, std::int64_t n_tokens) {
  const auto is_f16 = [](const kernels::MatmulJob& job) { return job.w->type == gguf::GgmlType::F16; };
  const bool all_f16 = std::all_of(jobs.begin(), jobs.end(), is_f16);
  const bool any_f16 = std::any_of(jobs.begin(), jobs.end(), is_f16);
  if (observer_ != nullptr || (any_f16 && !all_f16)) {
    for (const kernels::MatmulJob& job : jobs) matmul(*job.w, x, job.y, n_tokens);
    return;
  }
  if (all_f16) x = rounded_to_f16(x, n_tokens * jobs.front().w->n_cols);
  kernels::matmul_group(*kernels_, jobs, x, static_cast<int>(n_tokens));
}

std::span<const float> Decoder::decode(std::span<const SequenceInput> inputs) {
  validate(inputs);
  const Hparams& hp = model_->hparams();

  std::int64_t n_tokens = 0;
  std::int64_t n_out = 0;
  segments_.clear();
  for (const SequenceInput& input : inputs) {
    const auto n = static_cast<std::int64_t>(input.tokens.size());
    segments_.push_back({input.seq, n_tokens, n});
    n_tokens += n;
    n_out += input.all_logits ? n : 1;
  }
  resize(n_tokens, n_out);

  // Embeddings and cache positions: row r of segment s sits at position length(s) + r.
  for (std::size_t s = 0; s < inputs.size(); ++s) {
    const std::int64_t base = cache_->length(inputs[s].seq);
    for (std::int64_t r = 0; r < segments_[s].n; ++r) {
      const std::int64_t row_index = segments_[s].row0 + r;
      model_->embed(inputs[s].tokens[static_cast<std::size_t>(r)], row(x_, row_index, hp.n_embd));
      pos_[static_cast<std::size_t>(row_index)] = static_cast<std::int32_t>(base + r);
    }
  }

  for (std::int64_t il = 0; il < hp.n_layer; ++il) {
    attention_block(il, n_tokens);
    ffn_block(il, n_tokens);
  }
  for (const Segment& segment : segments_) {
    cache_->set_length(segment.seq, cache_->length(segment.seq) + segment.n);
  }
  output_head(inputs, n_out);
  return {logits_.data(), static_cast<std::size_t>(n_out * hp.n_vocab)};
}

// logits = output * norm(x) for the rows that need logits only.
void Decoder::output_head(std::span<const SequenceInput> inputs, std::int64_t n_out) {
  const Hparams& hp = model_->hparams();
  std::int64_t out = 0;
  for (std::size_t s = 0; s < inputs.size(); ++s) {
    const Segment& segment = segments_[s];
    const std::int64_t first = inputs[s].all_logits ? 0 : segment.n - 1;
    for (std::int64_t r = first; r < segment.n; ++r, ++out) {
      std::copy_n(row(x_, segment.row0 + r, hp.n_embd), hp.n_embd, row(rows_, out, hp.n_embd));
    }
  }
  QRAG_CHECK(out == n_out, "output row count mismatch");
  kernels::rms_norm(*kernels_, rows_.data(), model_->weights().output_norm, rows_.data(), hp.n_embd, n_out,
                    hp.norm_eps);
  matmul(model_->weights().output, rows_.data(), logits_.data(), n_out);
  if (hp.final_logit_softcap > 0.0f) {
    const float cap = hp.final_logit_softcap;
    for (std::int64_t i = 0; i < n_out * hp.n_vocab; ++i) logits_[i] = cap * std::tanh(logits_[i] / cap);
  }
}

}  // namespace qrag::model
