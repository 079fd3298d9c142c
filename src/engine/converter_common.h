// Helpers shared by the per-architecture Hugging Face -> GGUF converters (internal to src/engine).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/converter.h"
#include "engine/safetensors.h"
#include "gguf/gguf_writer.h"

namespace qrag::engine::convert {

// llama.cpp token types (gguf TokenType).
constexpr std::int32_t kTokenNormal = 1;
constexpr std::int32_t kTokenUnknown = 2;
constexpr std::int32_t kTokenControl = 3;
constexpr std::int32_t kTokenUserDefined = 4;
constexpr std::int32_t kTokenUnused = 5;
constexpr std::int32_t kTokenByte = 6;

// Parses a JSON object file. Throws qrag::Error naming the path when it is missing or invalid.
nlohmann::json read_json(const std::filesystem::path& path);

// Returns config[key] as a positive uint32. Throws qrag::Error naming the field otherwise.
std::uint32_t positive_field(const nlohmann::json& config, const char* key);

// Returns config[key] as a number. Throws qrag::Error naming the field when it is missing or not a number.
double number_field(const nlohmann::json& config, const char* key);

// Returns the general.file_type id of --type. Throws qrag::Error for types convert does not write.
std::uint32_t file_type_id(gguf::GgmlType type);

gguf::Value string_array(const std::vector<std::string>& items);

// One GGUF tensor to write: its values come from `source` (a safetensors tensor,
// converted to F32) or, when source is null, from `values`.
struct TensorPlan {
  std::string name;
  const SafetensorsTensor* source = nullptr;
  std::vector<float> values;
  std::vector<std::int64_t> ne;  // GGUF dimensions, ne[0] first
  gguf::GgmlType type = gguf::GgmlType::F32;
  // Output row i takes source row row_order[i] (elements, for a 1-D tensor); empty keeps the order.
  std::vector<std::int64_t> row_order;
};

// Checks `source` against the expected GGUF shape `ne` and returns a plan that stores
// it as `type` when ne[0] fits its blocks (F32 otherwise). Throws qrag::Error naming
// the checkpoint tensor and both shapes on a mismatch.
TensorPlan plan_tensor(std::string name, const SafetensorsTensor& source, std::vector<std::int64_t> ne,
                       gguf::GgmlType type);

// Declares every planned tensor on `writer`, then writes the file atomically to `out`,
// converting each tensor row by row.
void write_gguf(gguf::GgufWriter& writer, const SafetensorsCheckpoint& ckpt, const std::vector<TensorPlan>& plans,
                const std::filesystem::path& out);

// Tokenizer metadata written from tokenizer.json, tokenizer_config.json, config.json
// and generation_config.json of a decoder checkpoint.
struct TokenizerSummary {
  std::size_t n_tokens = 0;
  std::string model;  // tokenizer.ggml.model: "gpt2" or "llama"
  std::string pre;    // tokenizer.ggml.pre ("" for "llama")
};

// Adds tokenizer.ggml.* and tokenizer.chat_template to `writer`. `n_vocab` is the
// embedding row count: the vocabulary is padded with "[PAD<i>]" tokens up to it.
// `pre` (--pre) overrides the pre-tokenizer chosen from model_type and the
// tokenizer.json regex. Throws qrag::Error naming the file and field at fault.
TokenizerSummary add_decoder_tokenizer(gguf::GgufWriter& writer, const std::filesystem::path& hf_dir,
                                       const std::string& model_type, std::int64_t n_vocab,
                                       const std::string& pre);

// Converters per architecture, called by convert_hf_to_gguf after it read config.json.
ConvertSummary convert_bert(const std::filesystem::path& hf_dir, const nlohmann::json& config,
                            const std::filesystem::path& out, const ConvertOptions& options);
ConvertSummary convert_llama(const std::filesystem::path& hf_dir, const nlohmann::json& config,
                             const std::filesystem::path& out, const ConvertOptions& options);

}  // namespace qrag::engine::convert
