// Model loading: architecture lookup, hyper-parameters and shape-checked weights.
#include "model/model.h"

#include <algorithm>

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "model/tensor_loader.h"
#include "tensor/quantize.h"

namespace qrag::model {

std::unique_ptr<Model> Model::load(const std::filesystem::path& path, core::MappedFile::Mode mode) {
  return with_context("loading model " + path.string(), [&] {
    std::unique_ptr<Model> model(new Model(gguf::GgufFile::open(path, mode)));
    if (mode == core::MappedFile::Mode::kRead) {
      const core::MappedFile& bytes = model->file_.mapped();
      // The copy is rounded up to whole 2 MiB pages, so its last huge page extends past the file.
      const std::size_t huge = std::min(bytes.huge_page_bytes(), bytes.size());
      spdlog::info("{}: read {:.1f} MiB into memory, {:.1f} MiB of it in huge pages", path.string(),
                   static_cast<double>(bytes.size()) / (1 << 20), static_cast<double>(huge) / (1 << 20));
    }
    const std::string arch = model->file_.architecture();
    model->arch_ = find_arch(arch);
    if (!model->arch_) {
      std::vector<std::string_view> names;
      for (const ArchSpec& spec : supported_archs()) names.push_back(spec.name);
      throw Error(fmt::format("architecture '{}' is not supported (supported: {})", arch,
                              fmt::join(names, ", ")));
    }
    model->hparams_ = read_hparams(model->file_, *model->arch_);
    model->load_weights();
    return model;
  });
}

void Model::load_weights() {
  const Hparams& hp = hparams_;
  TensorLoader loader(file_);
  ModelWeights& w = weights_;

  w.token_embd = loader.matrix("token_embd.weight", hp.n_embd, hp.n_vocab);
  if (!tensor::can_dequantize(w.token_embd.type)) {
    throw Error(fmt::format("tensor 'token_embd.weight' has type {}, which cannot be converted to F32",
                            gguf::type_name(w.token_embd.type)));
  }
  w.output_norm = loader.vector("output_norm.weight", hp.n_embd);
  w.tied_output = !loader.has("output.weight");
  w.output = w.tied_output ? w.token_embd : loader.matrix("output.weight", hp.n_embd, hp.n_vocab);
  if (loader.has("rope_freqs.weight")) w.rope_freqs = loader.vector("rope_freqs.weight", hp.n_rot / 2);

  w.layers.resize(static_cast<std::size_t>(hp.n_layer));
  for (std::int64_t il = 0; il < hp.n_layer; ++il) load_layer(loader, il);

  owned_ = std::move(loader.storage());
  unused_ = loader.unused();
  if (!unused_.empty()) {
    spdlog::warn("{}: {} tensor(s) not used by architecture '{}': {}", file_.path().string(), unused_.size(),
                 hp.arch, fmt::join(unused_, ", "));
  }
  for (const gguf::TensorInfo& info : file_.tensors()) {
    n_params_ += info.n_elements();
    weight_bytes_ += info.n_bytes;
  }
}

void Model::load_layer(TensorLoader& loader, std::int64_t il) {
  const Hparams& hp = hparams_;
  const ArchSpec& spec = *arch_;
  const std::string prefix = fmt::format("blk.{}.", il);
  LayerWeights& l = weights_.layers[static_cast<std::size_t>(il)];
  l.attn_norm = loader.vector(prefix + "attn_norm.weight", hp.n_embd);
  l.wq = loader.matrix(prefix + "attn_q.weight", hp.n_embd, hp.n_embd_q());
  l.wk = loader.matrix(prefix + "attn_k.weight", hp.n_embd, hp.n_embd_kv());
  l.wv = loader.matrix(prefix + "attn_v.weight", hp.n_embd, hp.n_embd_kv());
  if (spec.qkv_bias) {
    l.bq = loader.vector(prefix + "attn_q.bias", hp.n_embd_q());
    l.bk = loader.vector(prefix + "attn_k.bias", hp.n_embd_kv());
    l.bv = loader.vector(prefix + "attn_v.bias", hp.n_embd_kv());
  }
  if (spec.qk_norm) {
    l.attn_q_norm = loader.vector(prefix + "attn_q_norm.weight", hp.head_dim);
    l.attn_k_norm = loader.vector(prefix + "attn_k_norm.weight", hp.head_dim);
  }
  l.wo = loader.matrix(prefix + "attn_output.weight", hp.n_embd_q(), hp.n_embd);
  l.ffn_norm = loader.vector(prefix + "ffn_norm.weight", hp.n_embd);
  l.ffn_gate = loader.matrix(prefix + "ffn_gate.weight", hp.n_embd, hp.n_ff);
  l.ffn_up = loader.matrix(prefix + "ffn_up.weight", hp.n_embd, hp.n_ff);
  l.ffn_down = loader.matrix(prefix + "ffn_down.weight", hp.n_ff, hp.n_embd);
  if (spec.post_norms) {
    l.post_attention_norm = loader.vector(prefix + "post_attention_norm.weight", hp.n_embd);
    l.post_ffw_norm = loader.vector(prefix + "post_ffw_norm.weight", hp.n_embd);
  }
}

void Model::embed(std::int32_t token, float* out) const {
  if (token < 0 || token >= hparams_.n_vocab) {
    throw Error(fmt::format("token id {} is outside the vocabulary [0, {})", token, hparams_.n_vocab));
  }
  const kernels::WeightView& e = weights_.token_embd;
  const auto* row = static_cast<const std::uint8_t*>(e.data) + static_cast<std::size_t>(token) * e.row_bytes;
  tensor::dequantize_row(e.type, row, out, hparams_.n_embd);
  if (hparams_.embd_scale != 1.0f) {
    for (std::int64_t i = 0; i < hparams_.n_embd; ++i) out[i] *= hparams_.embd_scale;
  }
}

std::string Model::summary() const {
  const Hparams& hp = hparams_;
  return fmt::format(
      "{}: arch {}, n_vocab {}, n_embd {}, n_layer {}, n_head {}, n_head_kv {}, n_ff {}, {:.1f}M params, "
      "{:.1f} MiB, {:.2f} bits per weight{}",
      file_.path().filename().string(), hp.arch, hp.n_vocab, hp.n_embd, hp.n_layer, hp.n_head, hp.n_head_kv,
      hp.n_ff, static_cast<double>(n_params_) / 1e6, static_cast<double>(weight_bytes_) / (1024.0 * 1024.0),
      bits_per_weight(), weights_.tied_output ? ", tied output" : "");
}

double Model::bits_per_weight() const {
  return n_params_ == 0 ? 0.0 : 8.0 * static_cast<double>(weight_bytes_) / static_cast<double>(n_params_);
}

std::uint64_t Model::bytes_read_per_step() const {
  auto bytes = [](const kernels::WeightView& v) { return static_cast<std::uint64_t>(v.n_rows) * v.row_bytes; };
  std::uint64_t total = bytes(weights_.output);
  for (const LayerWeights& l : weights_.layers) {
    total += bytes(l.wq) + bytes(l.wk) + bytes(l.wv) + bytes(l.wo) + bytes(l.ffn_gate) + bytes(l.ffn_up) +
             bytes(l.ffn_down);
  }
  return total;
}

}  // namespace qrag::model
