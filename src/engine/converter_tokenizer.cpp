// tokenizer.json (byte-level BPE or SentencePiece-style BPE) -> tokenizer.ggml.* metadata for decoder checkpoints.
#include <algorithm>
#include <limits>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "engine/converter_common.h"
#include "tokenizer/tokenizer.h"

namespace qrag::engine::convert {
namespace {

namespace fs = std::filesystem;
using gguf::Value;
using gguf::ValueType;
using nlohmann::json;

// Pre-tokenizer regexes of the Hugging Face tokenizer.json files that llama.cpp
// names "llama-bpe" (Llama 3) and "qwen2" (Qwen2, Qwen2.5). They differ only in
// digit runs: up to 3 digits per piece for Llama 3, one for Qwen2.
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct HfVocab {
  std::vector<std::string> tokens;  // [n_tokens], "[PAD<i>]" where no id is assigned
  std::vector<std::int32_t> types;  // [n_tokens], llama.cpp token types
  std::map<std::string, std::int32_t> ids;
  std::vector<std::string> merges;  // "left right", highest priority first
  bool byte_fallback = false;       // SentencePiece-style BPE with <0xXX> byte tokens
};

void set_token(HfVocab& v, std::int64_t id, const std::string& text, std::int32_t type) {
  if (id < 0 || id > std::numeric_limits<std::int32_t>::max()) throw Error(fmt::format("token id {} is out of range", id));
  const auto index = static_cast<std::size_t>(id);
  if (index >= v.tokens.size()) {
    for (std::size_t i = v.tokens.size(); i <= index; ++i) {
      v.tokens.push_back(fmt::format("[PAD{}]", i));
      v.types.push_back(kTokenUnused);
    }
  }
  v.tokens[index] = text;
  v.types[index] = type;
  v.ids[text] = static_cast<std::int32_t>(id);
}

HfVocab read_hf_vocab(const json& tokenizer) {
  const json model = tokenizer.value("model", json::object());
  const std::string type = model.value("type", "");
  if (type != "BPE") throw Error(fmt::format("field 'model.type' is '{}'; only BPE tokenizers are supported", type));
  if (!model.contains("vocab") || !model["vocab"].is_object()) throw Error("field 'model.vocab' is missing");
  HfVocab v;
  v.byte_fallback = model.value("byte_fallback", false);
  const json unk = model.value("unk_token", json());
  const std::string unk_token = unk.is_string() ? unk.get<std::string>() : "";
  for (const auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_integer()) throw Error(fmt::format("model.vocab['{}'] is not an integer id", text));
    std::int32_t token_type = kTokenNormal;
    if (v.byte_fallback && text.size() == 6 && text.starts_with("<0x") && text.back() == '>') token_type = kTokenByte;
    if (!unk_token.empty() && text == unk_token) token_type = kTokenUnknown;
    set_token(v, id.get<std::int64_t>(), text, token_type);
  }
  for (const json& added : tokenizer.value("added_tokens", json::array())) {
    if (!added.contains("id") || !added.contains("content")) throw Error("an 'added_tokens' entry lacks id or content");
    const auto text = added["content"].get<std::string>();
    set_token(v, added["id"].get<std::int64_t>(), text,
              !unk_token.empty() && text == unk_token ? kTokenUnknown
              : added.value("special", false)         ? kTokenControl
                                                      : kTokenUserDefined);
  }
  for (const json& merge : model.value("merges", json::array())) {
    // tokenizers >= 0.20 writes [left, right] pairs; older versions "left right" strings.
    if (merge.is_string()) {
      v.merges.push_back(merge.get<std::string>());
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      v.merges.push_back(merge[0].get<std::string>() + " " + merge[1].get<std::string>());
    } else {
      throw Error(fmt::format("model.merges entry {} is neither \"left right\" nor [left, right]", merge.dump()));
    }
  }
  return v;
}

// Visits the pre-tokenizer and the members of a Sequence pre-tokenizer.
template <typename Fn>
void for_each_pre_tokenizer(const json& tokenizer, Fn&& fn) {
  const json pre = tokenizer.value("pre_tokenizer", json());
  if (!pre.is_object()) return;
  if (pre.value("type", "") == "Sequence") {
    for (const json& member : pre.value("pretokenizers", json::array())) fn(member);
  } else {
    fn(pre);
  }
}

// tokenizer.ggml.pre of a byte-level BPE tokenizer: --pre when given, else the
// llama.cpp name of the regex the model family is known to use.
std::string choose_pre(const json& tokenizer, const std::string& model_type, const std::string& forced) {
  if (!forced.empty()) {
    tokenizer::parse_pre_tokenizer(forced);  // rejects names qrag cannot run
    return forced;
  }
  std::string regex;
  bool byte_level = false;
  for_each_pre_tokenizer(tokenizer, [&](const json& p) {
    if (p.value("type", "") == "ByteLevel") byte_level = true;
    if (p.value("type", "") == "Split" && p.contains("pattern") && p["pattern"].contains("Regex")) {
      regex = p["pattern"]["Regex"].get<std::string>();
    }
  });
  if (!byte_level) throw Error("pre_tokenizer has no ByteLevel step; only byte-level BPE is supported without byte_fallback");
  if (model_type == "qwen2" && regex == kQwen2Regex) return "qwen2";
  if ((model_type == "llama" || model_type == "mistral") && regex == kLlama3Regex) return "llama-bpe";
  throw Error(fmt::format("pre_tokenizer regex '{}' of model_type '{}' is not a known one (Llama 3 'llama-bpe', "
                          "Qwen2 'qwen2'); pass --pre NAME with the llama.cpp pre-tokenizer name",
                          regex.empty() ? "(none)" : regex, model_type));
}

// SentencePiece-style scores from BPE merge ranks: the token made by merge r scores
// -r, so qrag's SPM tokenizer (highest score first) merges in the same order.
// Tokens no merge produces score below every merge.
std::vector<float> merge_rank_scores(const HfVocab& v) {
  const float lowest = -static_cast<float>(v.merges.size()) - 1.0f;
  std::vector<float> scores(v.tokens.size(), lowest);
  for (std::size_t r = v.merges.size(); r-- > 0;) {
    const std::string& merge = v.merges[r];
    const std::size_t space = merge.find(' ');
    if (space == std::string::npos) throw Error(fmt::format("model.merges entry '{}' has no space", merge));
    const auto it = v.ids.find(merge.substr(0, space) + merge.substr(space + 1));
    if (it != v.ids.end()) scores[static_cast<std::size_t>(it->second)] = -static_cast<float>(r);
  }
  return scores;
}

// Whether SentencePiece-style text gets a leading "▁" (Prepend normalizer or Metaspace prepend).
bool spm_space_prefix(const json& tokenizer) {
  bool prefix = false;
  const json normalizer = tokenizer.value("normalizer", json());
  const auto check_normalizer = [&](const json& n) {
    if (n.value("type", "") == "Prepend") prefix = true;
  };
  if (normalizer.is_object()) {
    check_normalizer(normalizer);
    for (const json& n : normalizer.value("normalizers", json::array())) check_normalizer(n);
  }
  for_each_pre_tokenizer(tokenizer, [&](const json& p) {
    if (p.value("type", "") == "Metaspace") {
      prefix = prefix || p.value("add_prefix_space", false) || p.value("prepend_scheme", "never") != "never";
    }
  });
  return prefix;
}

// Token id of tokenizer_config.json's "<kind>_token", else "<kind>_token_id" of
// config.json, then of generation_config.json (first entry of a list).
std::optional<std::uint32_t> special_id(const std::string& kind, const json& tok_config, const json& config,
                                        const json& gen_config, const HfVocab& v) {
  json token = tok_config.value(kind + "_token", json());
  if (token.is_object()) token = token.value("content", json());
  if (token.is_string()) {
    const auto it = v.ids.find(token.get<std::string>());
    if (it == v.ids.end()) {
      throw Error(fmt::format("tokenizer_config.json: {}_token '{}' is not in tokenizer.json", kind, token.get<std::string>()));
    }
    return static_cast<std::uint32_t>(it->second);
  }
  for (const json* source : {&config, &gen_config}) {
    json id = source->value(kind + "_token_id", json());
    if (id.is_array() && !id.empty()) id = id[0];
    if (id.is_number_unsigned() && id.get<std::uint64_t>() < v.tokens.size()) return id.get<std::uint32_t>();
  }
  return std::nullopt;
}

// Whether the tokenizer.json post-processor puts a special token before the text.
bool post_processor_adds_bos(const json& tokenizer) {
  const json post = tokenizer.value("post_processor", json());
  if (!post.is_object()) return false;
  std::vector<json> processors = {post};
  if (post.value("type", "") == "Sequence") processors = post.value("processors", json::array()).get<std::vector<json>>();
  for (const json& p : processors) {
    if (p.value("type", "") != "TemplateProcessing") continue;
    const json single = p.value("single", json::array());
    if (!single.empty() && single[0].contains("SpecialToken")) return true;
  }
  return false;
}

void add_special_tokens(gguf::GgufWriter& writer, const fs::path& hf_dir, const json& tokenizer, const HfVocab& v) {
  const fs::path tok_config_path = hf_dir / "tokenizer_config.json";
  const fs::path gen_config_path = hf_dir / "generation_config.json";
  const json tok_config = fs::exists(tok_config_path) ? read_json(tok_config_path) : json::object();
  const json config = read_json(hf_dir / "config.json");
  const json gen_config = fs::exists(gen_config_path) ? read_json(gen_config_path) : json::object();
  const std::pair<const char*, const char*> kKinds[] = {{"bos", "tokenizer.ggml.bos_token_id"},
                                                       {"eos", "tokenizer.ggml.eos_token_id"},
                                                       {"unk", "tokenizer.ggml.unknown_token_id"},
                                                       {"pad", "tokenizer.ggml.padding_token_id"}};
  for (const auto& [kind, key] : kKinds) {
    if (auto id = special_id(kind, tok_config, config, gen_config, v)) writer.add_metadata(key, Value{*id});
  }
  // SentencePiece vocabularies add BOS by default, and byte-level BPE ones add it when
  // the post-processor does (Llama 3). tokenizer_config.json overrides both.
  bool add_bos = v.byte_fallback || post_processor_adds_bos(tokenizer);
  if (tok_config.contains("add_bos_token") && tok_config["add_bos_token"].is_boolean()) {
    add_bos = tok_config["add_bos_token"].get<bool>();
  }
  writer.add_metadata("tokenizer.ggml.add_bos_token", Value{add_bos});
  if (tok_config.contains("add_eos_token") && tok_config["add_eos_token"].is_boolean()) {
    writer.add_metadata("tokenizer.ggml.add_eos_token", Value{tok_config["add_eos_token"].get<bool>()});
  }
  json chat_template = tok_config.value("chat_template", json());
  if (chat_template.is_array()) {  // named templates: [{"name": ..., "template": ...}]
    json chosen;
    for (const json& t : chat_template) {
      if (t.value("name", "") == "default") chosen = t.value("template", json());
    }
    chat_template = chosen;
  }
  if (chat_template.is_string()) writer.add_metadata("tokenizer.chat_template", Value{chat_template.get<std::string>()});
}

}  // namespace

TokenizerSummary add_decoder_tokenizer(gguf::GgufWriter& writer, const fs::path& hf_dir, const std::string& model_type,
                                       std::int64_t n_vocab, const std::string& pre) {
  const fs::path path = hf_dir / "tokenizer.json";
  if (!fs::exists(path)) {
    // NOTE: SentencePiece tokenizer.model (protobuf) files are not read; such checkpoints need a tokenizer.json.
    throw Error(fmt::format("{}: file not found (qrag convert reads decoder vocabularies from tokenizer.json)",
                            path.string()));
  }
  const json tokenizer = read_json(path);
  HfVocab v = with_context(path.string(), [&] { return read_hf_vocab(tokenizer); });
  if (static_cast<std::int64_t>(v.tokens.size()) > n_vocab) {
    throw Error(fmt::format("{} has {} tokens but config.json vocab_size is {}", path.string(), v.tokens.size(), n_vocab));
  }
  // The embedding matrix may have more rows than the tokenizer has tokens (Qwen2 pads to a multiple of 128).
  while (static_cast<std::int64_t>(v.tokens.size()) < n_vocab) {
    v.tokens.push_back(fmt::format("[PAD{}]", v.tokens.size()));
    v.types.push_back(kTokenUnused);
  }

  TokenizerSummary summary;
  summary.n_tokens = v.tokens.size();
  gguf::Array types{ValueType::INT32, {}};
  for (const std::int32_t type : v.types) types.items.push_back(Value{type});
  if (v.byte_fallback) {
    summary.model = "llama";
    gguf::Array scores{ValueType::FLOAT32, {}};
    for (const float score : merge_rank_scores(v)) scores.items.push_back(Value{score});
    writer.add_metadata("tokenizer.ggml.model", Value{summary.model});
    writer.add_metadata("tokenizer.ggml.tokens", string_array(v.tokens));
    writer.add_metadata("tokenizer.ggml.scores", Value{std::move(scores)});
    writer.add_metadata("tokenizer.ggml.token_type", Value{std::move(types)});
    writer.add_metadata("tokenizer.ggml.add_space_prefix", Value{spm_space_prefix(tokenizer)});
  } else {
    summary.model = "gpt2";
    summary.pre = with_context(path.string(), [&] { return choose_pre(tokenizer, model_type, pre); });
    writer.add_metadata("tokenizer.ggml.model", Value{summary.model});
    writer.add_metadata("tokenizer.ggml.pre", Value{summary.pre});
    writer.add_metadata("tokenizer.ggml.tokens", string_array(v.tokens));
    writer.add_metadata("tokenizer.ggml.token_type", Value{std::move(types)});
    writer.add_metadata("tokenizer.ggml.merges", string_array(v.merges));
  }
  add_special_tokens(writer, hf_dir, tokenizer, v);
  return summary;
}

}  // namespace qrag::engine::convert
