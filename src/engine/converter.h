// Converting Hugging Face checkpoints (config.json + safetensors + vocabulary) to GGUF.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "gguf/ggml_type.h"

namespace qrag::engine {

// llama.cpp's pooling ids, stored as `<arch>.pooling_type`.
enum class PoolingType : std::uint32_t { kNone = 0, kMean = 1, kCls = 2, kLast = 3 };

// "none", "mean", "cls" or "last"; throws qrag::Error for any other name.
PoolingType parse_pooling(std::string_view name);
std::string_view pooling_name(PoolingType pooling);

struct ConvertOptions {
  // Type of the 2-D weight matrices: F32, F16, BF16 or Q8_0. Biases and norms stay F32.
  gguf::GgmlType type = gguf::GgmlType::F32;
  // Overrides the pooling read from 1_Pooling/config.json (mean when that file is absent).
  std::optional<PoolingType> pooling;
  // tokenizer.ggml.pre for byte-level BPE decoders ("qwen2", "llama-bpe", ...); empty
  // chooses it from model_type and the tokenizer.json pre-tokenizer regex.
  std::string pre;
};

struct ConvertSummary {
  std::string architecture;  // GGUF general.architecture: "bert", "llama" or "qwen2"
  std::size_t n_tensors = 0;
  std::size_t n_tokens = 0;
  PoolingType pooling = PoolingType::kMean;  // kNone for decoders
};

// Converts the checkpoint in `hf_dir` (config.json, model.safetensors or a sharded
// index) to a GGUF file at `out`, written atomically, with llama.cpp's metadata keys
// and tensor names. Supports model_type "bert" (BertModel: MiniLM, bge, Contriever,
// DPR; vocab.txt, optional 1_Pooling/config.json) and the decoders "llama",
// "mistral" (both written as GGUF llama) and "qwen2" (tokenizer.json, optional
// tokenizer_config.json and generation_config.json). Throws qrag::Error naming the
// missing file, field or tensor.
ConvertSummary convert_hf_to_gguf(const std::filesystem::path& hf_dir, const std::filesystem::path& out,
                                  const ConvertOptions& options);

}  // namespace qrag::engine
