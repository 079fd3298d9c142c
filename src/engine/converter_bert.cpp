// Hugging Face -> GGUF conversion for BERT encoders, with llama.cpp's metadata keys and tensor names.
#include <algorithm>
#include <fstream>
#include <map>

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
using gguf::ValueType;
using nlohmann::json;

struct BertConfig {
  std::uint32_t n_embd = 0;
  std::uint32_t n_layer = 0;
  std::uint32_t n_head = 0;
  std::uint32_t n_ff = 0;
  std::uint32_t n_ctx = 0;
  std::uint32_t n_token_types = 0;
  float norm_eps = 0;
};

BertConfig read_bert_config(const fs::path& path, const json& config) {
  return with_context(path.string(), [&] {
    const std::string act = config.value("hidden_act", "gelu");
    if (act != "gelu") throw Error(fmt::format("hidden_act '{}' is not supported; expected 'gelu' (erf)", act));
    const std::string position = config.value("position_embedding_type", "absolute");
    if (position != "absolute") {
      throw Error(fmt::format("position_embedding_type '{}' is not supported; expected 'absolute'", position));
    }
    BertConfig c;
    c.n_embd = positive_field(config, "hidden_size");
    c.n_layer = positive_field(config, "num_hidden_layers");
    c.n_head = positive_field(config, "num_attention_heads");
    c.n_ff = positive_field(config, "intermediate_size");
    c.n_ctx = positive_field(config, "max_position_embeddings");
    c.n_token_types = positive_field(config, "type_vocab_size");
    if (!config.contains("layer_norm_eps") || !config["layer_norm_eps"].is_number()) {
      throw Error("field 'layer_norm_eps' is missing or not a number");
    }
    c.norm_eps = config["layer_norm_eps"].get<float>();
    if (c.n_embd % c.n_head != 0) {
      throw Error(fmt::format("hidden_size {} is not a multiple of num_attention_heads {}", c.n_embd, c.n_head));
    }
    return c;
  });
}

std::vector<std::string> read_vocab(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("{}: file not found or unreadable (WordPiece vocabulary, one token a line)", path.string()));
  std::vector<std::string> tokens;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    tokens.push_back(line);
  }
  if (tokens.empty()) throw Error(fmt::format("{}: the vocabulary is empty", path.string()));
  return tokens;
}

PoolingType read_pooling(const fs::path& dir) {
  const fs::path path = dir / "1_Pooling" / "config.json";
  if (!fs::exists(path)) {
    spdlog::warn("{}: not found; using mean pooling (override with --pooling)", path.string());
    return PoolingType::kMean;
  }
  const json config = read_json(path);
  if (config.value("pooling_mode_mean_tokens", false)) return PoolingType::kMean;
  if (config.value("pooling_mode_cls_token", false)) return PoolingType::kCls;
  if (config.value("pooling_mode_lasttoken", false)) return PoolingType::kLast;
  throw Error(fmt::format("{}: no supported pooling mode (mean, cls, lasttoken) is enabled; pass --pooling", path.string()));
}

// The GGUF name of a BertModel tensor (prefix already removed), or "" for tensors
// the encoder does not use (pooler, position_ids).
std::string gguf_tensor_name(const std::string& hf) {
  static const std::map<std::string, std::string, std::less<>> kFixed = {
      {"embeddings.word_embeddings.weight", "token_embd.weight"},
      {"embeddings.position_embeddings.weight", "position_embd.weight"},
      {"embeddings.token_type_embeddings.weight", "token_types.weight"},
      {"embeddings.LayerNorm.weight", "token_embd_norm.weight"},
      {"embeddings.LayerNorm.bias", "token_embd_norm.bias"}};
  static const std::pair<std::string_view, std::string_view> kLayer[] = {
      {"attention.self.query.", "attn_q."},          {"attention.self.key.", "attn_k."},
      {"attention.self.value.", "attn_v."},          {"attention.output.dense.", "attn_output."},
      {"attention.output.LayerNorm.", "attn_output_norm."}, {"intermediate.dense.", "ffn_up."},
      {"output.dense.", "ffn_down."},                {"output.LayerNorm.", "layer_output_norm."}};
  if (const auto it = kFixed.find(hf); it != kFixed.end()) return it->second;
  const std::string_view layer_prefix = "encoder.layer.";
  if (hf.rfind(layer_prefix, 0) != 0) return "";
  const std::size_t dot = hf.find('.', layer_prefix.size());
  if (dot == std::string::npos) return "";
  const std::string il = hf.substr(layer_prefix.size(), dot - layer_prefix.size());
  const std::string_view rest = std::string_view(hf).substr(dot + 1);
  for (const auto& [from, to] : kLayer) {
    if (rest.substr(0, from.size()) == from) {
      return fmt::format("blk.{}.{}{}", il, to, rest.substr(from.size()));
    }
  }
  return "";
}

// llama.cpp's "phantom space" form: word-initial pieces get U+2581, "##" pieces lose it.
std::string phantom_space(const std::string& token) {
  if (token.size() >= 2 && token.front() == '[' && token.back() == ']') return token;
  if (token.rfind("##", 0) == 0) return token.substr(2);
  return "\xE2\x96\x81" + token;
}

void add_tokenizer(gguf::GgufWriter& writer, const std::vector<std::string>& vocab) {
  std::vector<std::string> tokens;
  gguf::Array types{ValueType::INT32, {}};
  for (const auto& token : vocab) {
    tokens.push_back(phantom_space(token));
    const bool control = token.size() >= 2 && token.front() == '[' && token.back() == ']';
    types.items.push_back(Value{token == "[UNK]" ? kTokenUnknown : control ? kTokenControl : kTokenNormal});
  }
  writer.add_metadata("tokenizer.ggml.model", Value{std::string("bert")});
  writer.add_metadata("tokenizer.ggml.tokens", string_array(tokens));
  writer.add_metadata("tokenizer.ggml.token_type", Value{std::move(types)});
  const std::pair<const char*, const char*> kSpecial[] = {{"[UNK]", "tokenizer.ggml.unknown_token_id"},
                                                         {"[SEP]", "tokenizer.ggml.seperator_token_id"},
                                                         {"[PAD]", "tokenizer.ggml.padding_token_id"},
                                                         {"[CLS]", "tokenizer.ggml.cls_token_id"},
                                                         {"[MASK]", "tokenizer.ggml.mask_token_id"}};
  for (const auto& [text, key] : kSpecial) {
    const auto it = std::find(vocab.begin(), vocab.end(), text);
    if (it == vocab.end()) throw Error(fmt::format("vocab.txt: special token {} not found", text));
    writer.add_metadata(key, Value{static_cast<std::uint32_t>(it - vocab.begin())});
  }
}

}  // namespace

ConvertSummary convert_bert(const fs::path& hf_dir, const json& hf_config, const fs::path& out,
                            const ConvertOptions& options) {
  const std::uint32_t file_type = file_type_id(options.type);
  const BertConfig config = read_bert_config(hf_dir / "config.json", hf_config);
  std::vector<std::string> vocab = read_vocab(hf_dir / "vocab.txt");
  ConvertSummary summary;
  summary.architecture = "bert";
  summary.pooling = options.pooling ? *options.pooling : read_pooling(hf_dir);
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(hf_dir);

  // DPR, Contriever and BertForX checkpoints nest BertModel under a prefix ("bert.", ...).
  std::string prefix;
  for (const auto& t : ckpt.tensors()) {
    const std::string_view key = "embeddings.word_embeddings.weight";
    if (t.name.size() >= key.size() && t.name.compare(t.name.size() - key.size(), key.size(), key) == 0) {
      prefix = t.name.substr(0, t.name.size() - key.size());
    }
  }

  std::map<std::string, const SafetensorsTensor*> sources;  // GGUF name -> source tensor
  for (const auto& t : ckpt.tensors()) {
    if (t.name.rfind(prefix, 0) != 0) continue;
    const std::string name = gguf_tensor_name(t.name.substr(prefix.size()));
    if (name.empty()) {
      spdlog::debug("convert: skipping unused tensor '{}'", t.name);
      continue;
    }
    sources[name] = &t;
  }
  return with_context(hf_dir.string(), [&] {
    gguf::GgufWriter writer;
    writer.add_metadata("general.architecture", Value{std::string("bert")});
    writer.add_metadata("general.name", Value{hf_dir.filename().string()});
    writer.add_metadata("general.file_type", Value{file_type});
    writer.add_metadata("bert.context_length", Value{config.n_ctx});
    writer.add_metadata("bert.embedding_length", Value{config.n_embd});
    writer.add_metadata("bert.feed_forward_length", Value{config.n_ff});
    writer.add_metadata("bert.block_count", Value{config.n_layer});
    writer.add_metadata("bert.attention.head_count", Value{config.n_head});
    writer.add_metadata("bert.attention.layer_norm_epsilon", Value{config.norm_eps});
    writer.add_metadata("bert.attention.causal", Value{false});
    writer.add_metadata("bert.pooling_type", Value{static_cast<std::uint32_t>(summary.pooling)});
    writer.add_metadata("bert.token_type_count", Value{config.n_token_types});

    // Expected GGUF shapes, ne[0] first: every tensor must be present with this shape.
    const auto n_vocab = static_cast<std::int64_t>(vocab.size());
    const std::int64_t e = config.n_embd, ff = config.n_ff;
    std::vector<std::pair<std::string, std::vector<std::int64_t>>> expected = {
        {"token_embd.weight", {e, -1}}, {"position_embd.weight", {e, config.n_ctx}},
        {"token_types.weight", {e, config.n_token_types}}, {"token_embd_norm.weight", {e}},
        {"token_embd_norm.bias", {e}}};
    for (std::uint32_t il = 0; il < config.n_layer; ++il) {
      const auto blk = [&](const char* n) { return fmt::format("blk.{}.{}", il, n); };
      for (const char* n : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
        expected.push_back({blk(n) + ".weight", {e, e}});
        expected.push_back({blk(n) + ".bias", {e}});
      }
      for (const char* n : {"attn_output_norm", "layer_output_norm"}) {
        expected.push_back({blk(n) + ".weight", {e}});
        expected.push_back({blk(n) + ".bias", {e}});
      }
      expected.push_back({blk("ffn_up.weight"), {e, ff}});
      expected.push_back({blk("ffn_up.bias"), {ff}});
      expected.push_back({blk("ffn_down.weight"), {ff, e}});
      expected.push_back({blk("ffn_down.bias"), {e}});
    }

    std::vector<TensorPlan> plans;  // declaration order of the GGUF tensors
    for (auto& [name, ne] : expected) {
      const auto it = sources.find(name);
      if (it == sources.end()) throw Error(fmt::format("tensor for '{}' not found in the checkpoint", name));
      const SafetensorsTensor& src = *it->second;
      if (name == "token_embd.weight" && src.shape.size() == 2) {
        ne[1] = src.shape[0];
        if (ne[1] < n_vocab) {
          throw Error(fmt::format("token_embd has {} rows but vocab.txt has {} tokens", ne[1], n_vocab));
        }
      }
      plans.push_back(plan_tensor(name, src, ne, options.type));
    }
    // Vocabularies shorter than the embedding matrix get placeholder tokens, as llama.cpp's converter does.
    for (std::int64_t i = n_vocab; i < expected[0].second[1]; ++i) vocab.push_back(fmt::format("[PAD{}]", i));
    add_tokenizer(writer, vocab);
    summary.n_tokens = vocab.size();
    summary.n_tensors = plans.size();
    write_gguf(writer, ckpt, plans, out);
    spdlog::info("convert: wrote {} ({} tensors, {} tokens, {} weights, {} pooling)", out.string(), summary.n_tensors,
                 summary.n_tokens, gguf::type_name(options.type), pooling_name(summary.pooling));
    return summary;
  });
}

}  // namespace qrag::engine::convert
