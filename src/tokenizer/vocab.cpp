// Reading `tokenizer.ggml.*` GGUF metadata into a Vocab, and pre-tokenizer names.
#include <array>
#include <utility>

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace qrag::tokenizer {
namespace {

struct PreName {
  std::string_view name;
  PreTokenizer pre;
};

// Names as llama.cpp's converter writes them to `tokenizer.ggml.pre`.
constexpr std::array<PreName, 26> kPreNames = {{
    {"default", PreTokenizer::kDefault},
    {"gpt-2", PreTokenizer::kGpt2},
    {"phi-2", PreTokenizer::kGpt2},
    {"mpt", PreTokenizer::kGpt2},
    {"gpt-neox", PreTokenizer::kGpt2},
    {"olmo", PreTokenizer::kGpt2},
    {"roberta-bpe", PreTokenizer::kGpt2},
    {"jina-v1-en", PreTokenizer::kGpt2},
    {"llama-bpe", PreTokenizer::kLlama3},
    {"llama3", PreTokenizer::kLlama3},
    {"llama-v3", PreTokenizer::kLlama3},
    {"falcon3", PreTokenizer::kLlama3},
    {"dbrx", PreTokenizer::kLlama3},
    {"smaug-bpe", PreTokenizer::kLlama3},
    {"qwen2", PreTokenizer::kQwen2},
    {"stablelm2", PreTokenizer::kQwen2},
    {"deepseek-r1-qwen", PreTokenizer::kQwen2},
    {"falcon", PreTokenizer::kFalcon},
    {"deepseek-llm", PreTokenizer::kDeepseekLlm},
    {"deepseek-coder", PreTokenizer::kDeepseekCoder},
    {"starcoder", PreTokenizer::kStarcoder},
    {"refact", PreTokenizer::kStarcoder},
    {"smollm", PreTokenizer::kStarcoder},
    {"command-r", PreTokenizer::kStarcoder},
    {"codeshell", PreTokenizer::kStarcoder},
    {"exaone", PreTokenizer::kStarcoder},
}};

std::int32_t read_id(const gguf::GgufFile& file, std::string_view key, std::size_t n_tokens) {
  const auto value = file.find_uint(key);
  if (!value) return -1;
  if (*value >= n_tokens) {
    // Some converters write placeholder ids for absent tokens, so this is not fatal.
    spdlog::warn("{}: id {} is outside the vocabulary of {} tokens; treating the token as absent", key, *value,
                 n_tokens);
    return -1;
  }
  return static_cast<std::int32_t>(*value);
}

TokenizerKind parse_model(const gguf::GgufFile& file) {
  const std::string model = file.get_string("tokenizer.ggml.model");
  if (model == "llama") return TokenizerKind::kSentencePiece;
  if (model == "gpt2") return TokenizerKind::kBytePairEncoding;
  if (model == "bert") return TokenizerKind::kWordPiece;
  throw Error(fmt::format("tokenizer.ggml.model: unsupported tokenizer '{}'; supported: llama (SentencePiece), "
                          "gpt2 (byte-level BPE), bert (WordPiece)",
                          model));
}

}  // namespace

PreTokenizer parse_pre_tokenizer(std::string_view name) {
  for (const PreName& entry : kPreNames) {
    if (entry.name == name) return entry.pre;
  }
  std::string known;
  for (const PreName& entry : kPreNames) {
    if (!known.empty()) known += ", ";
    known += entry.name;
  }
  throw Error(fmt::format("unknown BPE pre-tokenizer '{}'; known: {}. Use --pre-tokenizer NAME (or "
                          "TokenizerOptions::force_pre_tokenizer) to choose one",
                          name, known));
}

std::string_view pre_tokenizer_name(PreTokenizer pre) {
  for (const PreName& entry : kPreNames) {
    if (entry.pre == pre) return entry.name;
  }
  return "unknown";
}

Vocab read_vocab(const gguf::GgufFile& file) {
  return with_context("reading the tokenizer of " + file.path().string(), [&] {
    Vocab vocab;
    vocab.kind = parse_model(file);
    vocab.tokens = file.get_string_array("tokenizer.ggml.tokens");
    const std::size_t n = vocab.tokens.size();
    if (file.find("tokenizer.ggml.scores") != nullptr) vocab.scores = file.get_float_array("tokenizer.ggml.scores");
    if (file.find("tokenizer.ggml.token_type") != nullptr) {
      for (const std::int64_t type : file.get_int_array("tokenizer.ggml.token_type")) {
        vocab.types.push_back(type >= 0 && type <= 6 ? static_cast<TokenType>(type) : TokenType::kUndefined);
      }
    }
    if (vocab.kind == TokenizerKind::kBytePairEncoding) {
      vocab.merges = file.get_string_array("tokenizer.ggml.merges");
      const auto pre = file.find_string("tokenizer.ggml.pre");
      if (!pre) {
        spdlog::warn("{}: tokenizer.ggml.pre is missing; using the 'default' pre-tokenizer, which may split "
                     "text differently from the model's own tokenizer",
                     file.path().string());
      }
      vocab.pre = pre.value_or("default");
    }
    vocab.model_name = file.find_string("general.name").value_or("");

    vocab.bos = read_id(file, "tokenizer.ggml.bos_token_id", n);
    vocab.eos = read_id(file, "tokenizer.ggml.eos_token_id", n);
    vocab.eot = read_id(file, "tokenizer.ggml.eot_token_id", n);
    vocab.eom = read_id(file, "tokenizer.ggml.eom_token_id", n);
    vocab.unk = read_id(file, "tokenizer.ggml.unknown_token_id", n);
    vocab.pad = read_id(file, "tokenizer.ggml.padding_token_id", n);
    // llama.cpp's converter spells the key "seperator".
    vocab.sep = read_id(file, "tokenizer.ggml.seperator_token_id", n);
    vocab.cls = read_id(file, "tokenizer.ggml.cls_token_id", n);
    vocab.mask = read_id(file, "tokenizer.ggml.mask_token_id", n);
    vocab.add_bos = file.find_bool("tokenizer.ggml.add_bos_token");
    vocab.add_eos = file.find_bool("tokenizer.ggml.add_eos_token");
    vocab.add_space_prefix = file.find_bool("tokenizer.ggml.add_space_prefix");
    return vocab;
  });
}

}  // namespace qrag::tokenizer
