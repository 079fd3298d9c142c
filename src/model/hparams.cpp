// Reads and validates the `<arch>.*` hyper-parameters of a GGUF model.
#include "model/hparams.h"

#include <cmath>
#include <optional>

#include <fmt/core.h>

#include "core/error.h"

namespace qrag::model {
namespace {

std::int64_t positive_int(const gguf::GgufFile& file, const std::string& key) {
  const std::uint64_t value = file.get_uint(key);
  if (value == 0 || value > (1u << 30)) {
    throw Error(fmt::format("metadata '{}' = {} is out of range [1, 2^30]", key, value));
  }
  return static_cast<std::int64_t>(value);
}

std::optional<std::int64_t> optional_positive_int(const gguf::GgufFile& file, const std::string& key) {
  if (!file.find(key)) return std::nullopt;
  return positive_int(file, key);
}

std::int64_t read_n_vocab(const gguf::GgufFile& file, const std::string& arch) {
  if (auto n = optional_positive_int(file, arch + ".vocab_size")) return *n;
  if (file.find("tokenizer.ggml.tokens")) {
    const auto& tokens = file.get_array("tokenizer.ggml.tokens");
    if (!tokens.items.empty()) return static_cast<std::int64_t>(tokens.items.size());
  }
  const gguf::TensorInfo& embd = file.tensor("token_embd.weight");
  return embd.ne[1];
}

void read_rope_scaling(const gguf::GgufFile& file, const std::string& arch, Hparams& hp) {
  const std::string type = file.find_string(arch + ".rope.scaling.type").value_or("");
  std::optional<double> factor = file.find_float(arch + ".rope.scaling.factor");
  if (!factor) factor = file.find_float(arch + ".rope.scale_linear");  // older key
  if (type.empty() || type == "linear") {
    if (factor && *factor != 0.0 && *factor != 1.0) {
      if (!(*factor > 0.0) || !std::isfinite(*factor)) {
        throw Error(fmt::format("metadata '{}.rope.scaling.factor' = {} is not a positive number",
                                arch, *factor));
      }
      hp.rope_freq_scale = static_cast<float>(1.0 / *factor);
    }
    return;
  }
  if (type == "none") return;
  throw Error(fmt::format("metadata '{}.rope.scaling.type' = '{}' is not supported (only linear)",
                          arch, type));
}

std::optional<float> optional_positive_float(const gguf::GgufFile& file, const std::string& key) {
  const std::optional<double> value = file.find_float(key);
  if (!value) return std::nullopt;
  if (!(*value > 0.0) || !std::isfinite(*value)) {
    throw Error(fmt::format("metadata '{}' = {} must be a positive number", key, *value));
  }
  return static_cast<float>(*value);
}

// Gemma 3 layout, from the Hugging Face Gemma3TextConfig (sliding_window_pattern 6,
// rope_local_base_freq 10000): layers 5, 11, 17, ... are global and the others
// local. Local layers use RoPE base 10000 without scaling, global layers use
// <arch>.rope.freq_base and the rope.scaling factor (8 in the 27B config). GGUF
// files do not store the pattern or the local base, so they are fixed here.
// A file without <arch>.attention.sliding_window gets global attention everywhere.
void read_sliding_window(const gguf::GgufFile& file, const std::string& arch, Hparams& hp) {
  constexpr std::int64_t kGemma3SwaPeriod = 6;
  constexpr float kGemma3LocalRopeBase = 10000.0f;
  hp.n_swa = optional_positive_int(file, arch + ".attention.sliding_window").value_or(0);
  hp.swa_period = kGemma3SwaPeriod;
  hp.rope_freq_base_swa = kGemma3LocalRopeBase;
  hp.rope_freq_scale_swa = 1.0f;
}

// Attention scale, embedding scale and softcapping of the families that have them.
void read_family_options(const gguf::GgufFile& file, const ArchSpec& spec, Hparams& hp) {
  const std::string arch(spec.name);
  hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
  if (spec.scale_embeddings) hp.embd_scale = std::sqrt(static_cast<float>(hp.n_embd));
  if (spec.sliding_window) read_sliding_window(file, arch, hp);
  if (spec.name == "gemma3" && hp.n_layer == 62) {
    // Gemma 3 27B (the only size with 62 layers) scales Q.K by query_pre_attn_scalar
    // = n_embd / n_head = 168 rather than key_length 128; GGUF does not store it.
    hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.n_embd / hp.n_head));
  }
  if (auto cap = optional_positive_float(file, arch + ".final_logit_softcapping")) hp.final_logit_softcap = *cap;
  if (auto cap = file.find_float(arch + ".attn_logit_softcapping"); cap && *cap != 0.0) {
    throw Error(fmt::format("metadata '{}.attn_logit_softcapping' = {} is not supported (attention logit "
                            "softcapping is not implemented)",
                            arch, *cap));
  }
}

}  // namespace

Hparams read_hparams(const gguf::GgufFile& file, const ArchSpec& spec) {
  const std::string arch(spec.name);
  Hparams hp;
  hp.arch = arch;
  hp.rope_mode = spec.rope_mode;
  hp.n_embd = positive_int(file, arch + ".embedding_length");
  hp.n_layer = positive_int(file, arch + ".block_count");
  hp.n_head = positive_int(file, arch + ".attention.head_count");
  hp.n_head_kv = optional_positive_int(file, arch + ".attention.head_count_kv").value_or(hp.n_head);
  hp.n_ff = positive_int(file, arch + ".feed_forward_length");
  hp.n_ctx_train = optional_positive_int(file, arch + ".context_length").value_or(0);
  hp.n_vocab = read_n_vocab(file, arch);

  if (hp.n_head % hp.n_head_kv != 0) {
    throw Error(fmt::format("metadata: head_count {} is not a multiple of head_count_kv {}", hp.n_head,
                            hp.n_head_kv));
  }
  if (auto key_length = optional_positive_int(file, arch + ".attention.key_length")) {
    hp.head_dim = *key_length;
    const auto value_length = optional_positive_int(file, arch + ".attention.value_length");
    if (value_length && *value_length != *key_length) {
      throw Error(fmt::format("metadata: attention.value_length {} differs from key_length {} (not supported)",
                              *value_length, *key_length));
    }
  } else {
    if (hp.n_embd % hp.n_head != 0) {
      throw Error(fmt::format("metadata: embedding_length {} is not a multiple of head_count {}", hp.n_embd,
                              hp.n_head));
    }
    hp.head_dim = hp.n_embd / hp.n_head;
  }
  hp.n_rot = optional_positive_int(file, arch + ".rope.dimension_count").value_or(hp.head_dim);
  if (hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0) {
    throw Error(fmt::format("metadata '{}.rope.dimension_count' = {} must be even and at most the head size {}",
                            arch, hp.n_rot, hp.head_dim));
  }

  if (auto eps = file.find_float(arch + ".attention.layer_norm_rms_epsilon")) {
    hp.norm_eps = static_cast<float>(*eps);
  }
  if (!(hp.norm_eps > 0.0f)) {
    throw Error(fmt::format("metadata '{}.attention.layer_norm_rms_epsilon' = {} must be positive", arch,
                            hp.norm_eps));
  }
  if (auto base = file.find_float(arch + ".rope.freq_base")) hp.rope_freq_base = static_cast<float>(*base);
  if (!(hp.rope_freq_base > 0.0f)) {
    throw Error(fmt::format("metadata '{}.rope.freq_base' = {} must be positive", arch, hp.rope_freq_base));
  }
  read_rope_scaling(file, arch, hp);
  read_family_options(file, spec, hp);
  return hp;
}

}  // namespace qrag::model
