// Hugging Face -> GGUF conversion for LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM decoders.
#include <cmath>
#include <map>
#include <numbers>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "engine/converter_common.h"

namespace qrag::engine::convert {
namespace {

namespace fs = std::filesystem;
using gguf::GgmlType;
using gguf::Value;
using nlohmann::json;

struct DecoderConfig {
  std::string arch;  // GGUF architecture: "llama" (llama, mistral) or "qwen2"
  std::uint32_t n_embd = 0;
  std::uint32_t n_layer = 0;
  std::uint32_t n_head = 0;
  std::uint32_t n_head_kv = 0;
  std::uint32_t head_dim = 0;
  std::uint32_t n_ff = 0;
  std::uint32_t n_ctx = 0;
  std::uint32_t n_vocab = 0;
  float norm_eps = 0;
  float rope_base = 10000.0f;
  bool tied_output = false;
  bool qkv_bias = false;  // qwen2 always; llama when attention_bias is true
  json rope_scaling;      // null when absent
};

DecoderConfig read_decoder_config(const json& config, const std::string& model_type) {
  DecoderConfig c;
  c.arch = model_type == "qwen2" ? "qwen2" : "llama";
  const std::string act = config.value("hidden_act", "silu");
  if (act != "silu") throw Error(fmt::format("hidden_act '{}' is not supported; expected 'silu'", act));
  c.n_embd = positive_field(config, "hidden_size");
  c.n_layer = positive_field(config, "num_hidden_layers");
  c.n_head = positive_field(config, "num_attention_heads");
  c.n_head_kv = config.contains("num_key_value_heads") && !config["num_key_value_heads"].is_null()
                    ? positive_field(config, "num_key_value_heads")
                    : c.n_head;
  c.n_ff = positive_field(config, "intermediate_size");
  c.n_ctx = positive_field(config, "max_position_embeddings");
  c.n_vocab = positive_field(config, "vocab_size");
  c.norm_eps = static_cast<float>(number_field(config, "rms_norm_eps"));
  if (config.contains("rope_theta")) c.rope_base = static_cast<float>(number_field(config, "rope_theta"));
  c.tied_output = config.value("tie_word_embeddings", model_type == "qwen2");
  c.qkv_bias = model_type == "qwen2" || config.value("attention_bias", false);
  c.rope_scaling = config.value("rope_scaling", json());
  if (config.contains("head_dim") && !config["head_dim"].is_null()) {
    c.head_dim = positive_field(config, "head_dim");
  } else if (c.n_embd % c.n_head == 0) {
    c.head_dim = c.n_embd / c.n_head;
  } else {
    throw Error(fmt::format("hidden_size {} is not a multiple of num_attention_heads {}", c.n_embd, c.n_head));
  }
  if (c.n_head % c.n_head_kv != 0) {
    throw Error(fmt::format("num_attention_heads {} is not a multiple of num_key_value_heads {}", c.n_head,
                            c.n_head_kv));
  }
  if (c.head_dim % 2 != 0) throw Error(fmt::format("head size {} is odd; RoPE needs an even size", c.head_dim));
  if (!(c.norm_eps > 0.0f) || !(c.rope_base > 0.0f)) {
    throw Error("fields 'rms_norm_eps' and 'rope_theta' must be positive");
  }
  return c;
}

// Llama 3.1 RoPE scaling as frequency divisors, one per rotated pair. Frequencies whose
// wavelength exceeds original_max_position_embeddings / low_freq_factor are divided by
// `factor`, those below original / high_freq_factor are kept, and the band between is
// interpolated. NOTE: no test compares these divisors with a Llama 3.1 checkpoint.
std::vector<float> llama3_rope_freqs(const DecoderConfig& c) {
  const json& s = c.rope_scaling;
  const double factor = number_field(s, "factor");
  const double low_freq_factor = s.contains("low_freq_factor") ? number_field(s, "low_freq_factor") : 1.0;
  const double high_freq_factor = s.contains("high_freq_factor") ? number_field(s, "high_freq_factor") : 4.0;
  const double old_context = s.contains("original_max_position_embeddings")
                                 ? number_field(s, "original_max_position_embeddings")
                                 : 8192.0;
  if (!(factor > 0.0) || !(high_freq_factor > low_freq_factor)) {
    throw Error("rope_scaling: 'factor' must be positive and 'high_freq_factor' above 'low_freq_factor'");
  }
  const double low_freq_wavelen = old_context / low_freq_factor;
  const double high_freq_wavelen = old_context / high_freq_factor;
  std::vector<float> divisors;  // [head_dim / 2]
  for (std::uint32_t i = 0; i < c.head_dim; i += 2) {
    const double freq = 1.0 / std::pow(static_cast<double>(c.rope_base), static_cast<double>(i) / c.head_dim);
    const double wavelen = 2.0 * std::numbers::pi / freq;
    double divisor = 1.0;
    if (wavelen > low_freq_wavelen) {
      divisor = factor;
    } else if (wavelen >= high_freq_wavelen) {
      const double smooth = (old_context / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      divisor = 1.0 / ((1.0 - smooth) / factor + smooth);
    }
    divisors.push_back(static_cast<float>(divisor));
  }
  return divisors;
}

// Writes the rope.scaling keys, or returns the rope_freqs.weight plan for Llama 3 scaling.
std::optional<TensorPlan> add_rope_scaling(gguf::GgufWriter& writer, const DecoderConfig& c) {
  const json& s = c.rope_scaling;
  if (s.is_null()) return std::nullopt;
  if (!s.is_object()) throw Error("field 'rope_scaling' is not an object");
  const std::string type = s.contains("rope_type") ? s.value("rope_type", "") : s.value("type", "");
  const std::string key = c.arch + ".rope.scaling.";
  if (type == "default") return std::nullopt;
  if (type == "linear" || type == "yarn") {
    writer.add_metadata(key + "type", Value{type});
    writer.add_metadata(key + "factor", Value{static_cast<float>(number_field(s, "factor"))});
    if (type == "yarn" && s.contains("original_max_position_embeddings")) {
      writer.add_metadata(key + "original_context_length", Value{positive_field(s, "original_max_position_embeddings")});
    }
    return std::nullopt;
  }
  if (type == "llama3") {
    TensorPlan plan;
    plan.name = "rope_freqs.weight";
    plan.values = llama3_rope_freqs(c);
    plan.ne = {static_cast<std::int64_t>(plan.values.size())};
    return plan;
  }
  throw Error(fmt::format("rope_scaling type '{}' is not supported; expected linear, yarn or llama3", type));
}

void add_hparams(gguf::GgufWriter& writer, const DecoderConfig& c, const std::string& name, std::uint32_t file_type) {
  const std::string& a = c.arch;
  writer.add_metadata("general.architecture", Value{a});
  writer.add_metadata("general.name", Value{name});
  writer.add_metadata("general.file_type", Value{file_type});
  writer.add_metadata(a + ".context_length", Value{c.n_ctx});
  writer.add_metadata(a + ".embedding_length", Value{c.n_embd});
  writer.add_metadata(a + ".block_count", Value{c.n_layer});
  writer.add_metadata(a + ".feed_forward_length", Value{c.n_ff});
  writer.add_metadata(a + ".attention.head_count", Value{c.n_head});
  writer.add_metadata(a + ".attention.head_count_kv", Value{c.n_head_kv});
  writer.add_metadata(a + ".attention.layer_norm_rms_epsilon", Value{c.norm_eps});
  writer.add_metadata(a + ".rope.freq_base", Value{c.rope_base});
  writer.add_metadata(a + ".rope.dimension_count", Value{c.head_dim});
  if (c.head_dim * c.n_head != c.n_embd) {
    writer.add_metadata(a + ".attention.key_length", Value{c.head_dim});
    writer.add_metadata(a + ".attention.value_length", Value{c.head_dim});
  }
  writer.add_metadata(a + ".vocab_size", Value{c.n_vocab});
}

// Returns the row order that turns Hugging Face's rotate-half Q/K layout (dimension j of
// a head rotates with j + head_dim/2) into GGUF llama's interleaved layout (dimension 2j
// rotates with 2j + 1). Output row h*hd + 2j + r takes input row h*hd + r*hd/2 + j.
std::vector<std::int64_t> rope_interleave_order(std::uint32_t n_heads, std::uint32_t head_dim) {
  std::vector<std::int64_t> order;
  const std::int64_t half = head_dim / 2;
  for (std::int64_t h = 0; h < n_heads; ++h) {
    for (std::int64_t j = 0; j < half; ++j) {
      for (std::int64_t r = 0; r < 2; ++r) order.push_back(h * head_dim + r * half + j);
    }
  }
  return order;
}

// GGUF name -> Hugging Face name and GGUF shape (ne[0] first) of every tensor the decoder needs.
std::vector<std::pair<std::string, std::pair<std::string, std::vector<std::int64_t>>>> expected_tensors(
    const DecoderConfig& c) {
  const std::int64_t e = c.n_embd, ff = c.n_ff, v = c.n_vocab;
  const std::int64_t q = static_cast<std::int64_t>(c.n_head) * c.head_dim;
  const std::int64_t kv = static_cast<std::int64_t>(c.n_head_kv) * c.head_dim;
  std::vector<std::pair<std::string, std::pair<std::string, std::vector<std::int64_t>>>> t = {
      {"token_embd.weight", {"model.embed_tokens.weight", {e, v}}},
      {"output_norm.weight", {"model.norm.weight", {e}}}};
  if (!c.tied_output) t.push_back({"output.weight", {"lm_head.weight", {e, v}}});
  for (std::uint32_t il = 0; il < c.n_layer; ++il) {
    const std::string hf = fmt::format("model.layers.{}.", il);
    const std::string blk = fmt::format("blk.{}.", il);
    t.push_back({blk + "attn_norm.weight", {hf + "input_layernorm.weight", {e}}});
    t.push_back({blk + "attn_q.weight", {hf + "self_attn.q_proj.weight", {e, q}}});
    t.push_back({blk + "attn_k.weight", {hf + "self_attn.k_proj.weight", {e, kv}}});
    t.push_back({blk + "attn_v.weight", {hf + "self_attn.v_proj.weight", {e, kv}}});
    if (c.qkv_bias) {
      t.push_back({blk + "attn_q.bias", {hf + "self_attn.q_proj.bias", {q}}});
      t.push_back({blk + "attn_k.bias", {hf + "self_attn.k_proj.bias", {kv}}});
      t.push_back({blk + "attn_v.bias", {hf + "self_attn.v_proj.bias", {kv}}});
    }
    t.push_back({blk + "attn_output.weight", {hf + "self_attn.o_proj.weight", {q, e}}});
    t.push_back({blk + "ffn_norm.weight", {hf + "post_attention_layernorm.weight", {e}}});
    t.push_back({blk + "ffn_gate.weight", {hf + "mlp.gate_proj.weight", {e, ff}}});
    t.push_back({blk + "ffn_up.weight", {hf + "mlp.up_proj.weight", {e, ff}}});
    t.push_back({blk + "ffn_down.weight", {hf + "mlp.down_proj.weight", {ff, e}}});
  }
  return t;
}

std::vector<TensorPlan> plan_decoder_tensors(const DecoderConfig& c, const SafetensorsCheckpoint& ckpt,
                                             GgmlType type) {
  // GGUF llama rotates interleaved pairs, so its Q and K rows are permuted. qwen2 uses
  // NeoX RoPE, the same pairing as Hugging Face, so its rows stay in place.
  const bool interleave = c.arch == "llama";
  std::vector<TensorPlan> plans;
  for (auto& [name, source] : expected_tensors(c)) {
    const SafetensorsTensor* src = ckpt.find(source.first);
    if (src == nullptr) {
      throw Error(fmt::format("tensor '{}' (for GGUF '{}') not found in the checkpoint", source.first, name));
    }
    TensorPlan plan = plan_tensor(name, *src, source.second, type);
    const bool is_q = name.ends_with(".attn_q.weight") || name.ends_with(".attn_q.bias");
    const bool is_k = name.ends_with(".attn_k.weight") || name.ends_with(".attn_k.bias");
    if (interleave && (is_q || is_k)) plan.row_order = rope_interleave_order(is_q ? c.n_head : c.n_head_kv, c.head_dim);
    plans.push_back(std::move(plan));
  }
  return plans;
}

}  // namespace

ConvertSummary convert_llama(const fs::path& hf_dir, const json& hf_config, const fs::path& out,
                             const ConvertOptions& options) {
  const std::string model_type = hf_config.value("model_type", "");
  const std::uint32_t file_type = file_type_id(options.type);
  const DecoderConfig config =
      with_context((hf_dir / "config.json").string(), [&] { return read_decoder_config(hf_config, model_type); });
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(hf_dir);

  return with_context(hf_dir.string(), [&] {
    gguf::GgufWriter writer;
    add_hparams(writer, config, hf_dir.filename().string(), file_type);
    std::vector<TensorPlan> plans = plan_decoder_tensors(config, ckpt, options.type);
    if (auto rope_freqs = with_context("config.json", [&] { return add_rope_scaling(writer, config); })) {
      plans.push_back(std::move(*rope_freqs));
    }
    const TokenizerSummary tokenizer =
        add_decoder_tokenizer(writer, hf_dir, model_type, config.n_vocab, options.pre);

    ConvertSummary summary;
    summary.architecture = config.arch;
    summary.n_tensors = plans.size();
    summary.n_tokens = tokenizer.n_tokens;
    summary.pooling = PoolingType::kNone;
    write_gguf(writer, ckpt, plans, out);
    spdlog::info("convert: wrote {} ({} from model_type '{}', {} tensors, {} tokens, {} tokenizer{}{}, {} weights)",
                 out.string(), config.arch, model_type, summary.n_tensors, summary.n_tokens, tokenizer.model,
                 tokenizer.pre.empty() ? "" : ", pre-tokenizer ", tokenizer.pre, gguf::type_name(options.type));
    return summary;
  });
}

}  // namespace qrag::engine::convert
