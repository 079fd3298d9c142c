// Writes random-weight llama GGUF files through qrag's own GGUF writer and quantizers.
#include "engine/synthetic_model.h"

#include <array>
#include <random>
#include <vector>

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "tensor/quantize.h"
#include "tokenizer/tokenizer.h"

namespace qrag::engine {
namespace {

using gguf::GgmlType;

// TinyLlama-1.1B's shape makes files of 0.6-2.2 GB, larger than most last-level caches,
// for measuring generation against the memory bandwidth.
constexpr std::array kShapes = {
    SyntheticShape{"smollm2-135m", 50257, 576, 30, 9, 3, 1536},
    SyntheticShape{"stories260k", 512, 64, 5, 8, 4, 172},
    SyntheticShape{"tinyllama-1.1b", 32000, 2048, 22, 32, 4, 5632},
};

// The storage type of one matrix under a file type, with the block-size fallback.
GgmlType matrix_type(const std::string& type, const std::string& name, std::int64_t il, std::int64_t n_cols) {
  GgmlType chosen;
  if (type == "f32") return GgmlType::F32;
  if (type == "f16") return GgmlType::F16;
  if (type == "q8_0") {
    chosen = GgmlType::Q8_0;
  } else if (type == "q4_0") {
    chosen = GgmlType::Q4_0;
  } else if (type == "q4_1") {
    chosen = GgmlType::Q4_1;
  } else {  // q4_k_m
    const bool high = name == "output.weight" ||
                      ((name.ends_with("attn_v.weight") || name.ends_with("ffn_down.weight")) && il % 2 == 0);
    chosen = high ? GgmlType::Q6_K : GgmlType::Q4_K;
  }
  const std::int64_t block = gguf::type_layout(chosen).block_size;
  if (n_cols % block == 0) return chosen;
  if (chosen == GgmlType::Q6_K) return n_cols % 32 == 0 ? GgmlType::Q8_0 : GgmlType::F16;
  if (chosen == GgmlType::Q4_K) return n_cols % 32 == 0 ? GgmlType::Q5_0 : GgmlType::F16;
  return GgmlType::F16;
}

void add_metadata(gguf::GgufWriter& writer, const SyntheticShape& s) {
  using gguf::Value;
  writer.add_metadata("general.architecture", Value{std::string("llama")});
  writer.add_metadata("general.name", Value{"synthetic " + s.name});
  writer.add_metadata("llama.vocab_size", Value{static_cast<std::uint32_t>(s.n_vocab)});
  writer.add_metadata("llama.context_length", Value{std::uint32_t{8192}});
  writer.add_metadata("llama.embedding_length", Value{static_cast<std::uint32_t>(s.n_embd)});
  writer.add_metadata("llama.block_count", Value{static_cast<std::uint32_t>(s.n_layer)});
  writer.add_metadata("llama.feed_forward_length", Value{static_cast<std::uint32_t>(s.n_ff)});
  writer.add_metadata("llama.attention.head_count", Value{static_cast<std::uint32_t>(s.n_head)});
  writer.add_metadata("llama.attention.head_count_kv", Value{static_cast<std::uint32_t>(s.n_head_kv)});
  writer.add_metadata("llama.rope.freq_base", Value{100000.0f});
  writer.add_metadata("llama.attention.layer_norm_rms_epsilon", Value{1e-5f});
}

// A SentencePiece-style vocabulary of n_vocab tokens: <unk>, <s>, </s>, the 256 byte
// tokens, the word-start piece "\u2581", then filler pieces "\u2581t<id>". It makes the
// file loadable by tools that require a tokenizer (qrag generate, llama.cpp's
// llama-bench), so the same file can be timed by both. Generated text is meaningless
// because the weights are random.
void add_vocabulary(gguf::GgufWriter& writer, std::int64_t n_vocab) {
  using gguf::Value;
  using gguf::ValueType;
  using tokenizer::TokenType;
  constexpr std::int64_t kFirstFiller = 3 + 256 + 1;
  if (n_vocab < kFirstFiller) {
    throw Error(fmt::format("synthetic model: n_vocab {} is below the {} fixed tokens of its vocabulary", n_vocab,
                            kFirstFiller));
  }

  gguf::Array tokens{ValueType::STRING, {}};
  gguf::Array scores{ValueType::FLOAT32, {}};
  gguf::Array types{ValueType::INT32, {}};
  auto add = [&](std::string text, float score, TokenType type) {
    tokens.items.push_back(Value{std::move(text)});
    scores.items.push_back(Value{score});
    types.items.push_back(Value{static_cast<std::int32_t>(type)});
  };

  add("<unk>", 0.0f, TokenType::kUnknown);
  add("<s>", 0.0f, TokenType::kControl);
  add("</s>", 0.0f, TokenType::kControl);
  for (int byte = 0; byte < 256; ++byte) add(fmt::format("<0x{:02X}>", byte), 0.0f, TokenType::kByte);
  add("\u2581", 0.0f, TokenType::kNormal);
  for (std::int64_t id = kFirstFiller; id < n_vocab; ++id) {
    add(fmt::format("\u2581t{}", id), -static_cast<float>(id), TokenType::kNormal);
  }

  writer.add_metadata("tokenizer.ggml.model", Value{std::string("llama")});
  writer.add_metadata("tokenizer.ggml.tokens", Value{std::move(tokens)});
  writer.add_metadata("tokenizer.ggml.scores", Value{std::move(scores)});
  writer.add_metadata("tokenizer.ggml.token_type", Value{std::move(types)});
  writer.add_metadata("tokenizer.ggml.unknown_token_id", Value{std::uint32_t{0}});
  writer.add_metadata("tokenizer.ggml.bos_token_id", Value{std::uint32_t{1}});
  writer.add_metadata("tokenizer.ggml.eos_token_id", Value{std::uint32_t{2}});
}

}  // namespace

SyntheticSpec parse_synthetic_spec(std::string_view text) {
  const std::size_t colon = text.find(':');
  const std::string shape_name(text.substr(0, colon));
  const std::string type = colon == std::string_view::npos ? "f16" : std::string(text.substr(colon + 1));
  SyntheticSpec spec;
  bool found = false;
  for (const SyntheticShape& shape : kShapes) {
    if (shape.name == shape_name) {
      spec.shape = shape;
      found = true;
    }
  }
  if (!found) {
    std::vector<std::string_view> names;
    for (const SyntheticShape& shape : kShapes) names.push_back(shape.name);
    throw Error(fmt::format("unknown synthetic model shape '{}' (known: {})", shape_name, fmt::join(names, ", ")));
  }
  if (type != "f32" && type != "f16" && type != "q8_0" && type != "q4_0" && type != "q4_1" && type != "q4_k_m") {
    throw Error(fmt::format("unknown synthetic model type '{}' (known: f32, f16, q8_0, q4_0, q4_1, q4_k_m)", type));
  }
  spec.type = type;
  return spec;
}

std::filesystem::path write_synthetic_model(const SyntheticSpec& spec, const std::filesystem::path& dir) {
  const SyntheticShape& s = spec.shape;
  const std::filesystem::path path = dir / fmt::format("synthetic-{}-{}.gguf", s.name, spec.type);
  if (std::filesystem::exists(path)) {
    if (gguf::GgufFile::open(path).find("tokenizer.ggml.tokens") != nullptr) return path;
    // Files written before synthetic models carried a vocabulary cannot be loaded by llama.cpp.
    spdlog::info("{} has no vocabulary; writing it again", path.string());
  }
  std::filesystem::create_directories(dir);
  spdlog::info("writing synthetic model {}", path.string());

  gguf::GgufWriter writer;
  add_metadata(writer, s);
  add_vocabulary(writer, s.n_vocab);
  const std::int64_t head_dim = s.n_embd / s.n_head;
  auto matrix = [&](const std::string& name, std::int64_t il, std::int64_t n_cols, std::int64_t n_rows) {
    const std::array<std::int64_t, 2> ne{n_cols, n_rows};
    writer.add_tensor(name, matrix_type(spec.type, name, il, n_cols), ne);
  };
  auto vector = [&](const std::string& name, std::int64_t n) {
    const std::array<std::int64_t, 1> ne{n};
    writer.add_tensor(name, GgmlType::F32, ne);
  };
  matrix("token_embd.weight", -1, s.n_embd, s.n_vocab);
  vector("output_norm.weight", s.n_embd);
  matrix("output.weight", -1, s.n_embd, s.n_vocab);
  for (std::int64_t il = 0; il < s.n_layer; ++il) {
    const std::string p = fmt::format("blk.{}.", il);
    vector(p + "attn_norm.weight", s.n_embd);
    matrix(p + "attn_q.weight", il, s.n_embd, s.n_head * head_dim);
    matrix(p + "attn_k.weight", il, s.n_embd, s.n_head_kv * head_dim);
    matrix(p + "attn_v.weight", il, s.n_embd, s.n_head_kv * head_dim);
    matrix(p + "attn_output.weight", il, s.n_head * head_dim, s.n_embd);
    vector(p + "ffn_norm.weight", s.n_embd);
    matrix(p + "ffn_gate.weight", il, s.n_embd, s.n_ff);
    matrix(p + "ffn_up.weight", il, s.n_embd, s.n_ff);
    matrix(p + "ffn_down.weight", il, s.n_ff, s.n_embd);
  }

  std::mt19937_64 rng(20250601);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  writer.write_file(path, [&](const gguf::TensorInfo& info, gguf::ByteSink& out) {
    const std::int64_t n_cols = info.ne[0];
    std::vector<float> row(static_cast<std::size_t>(n_cols));
    std::vector<std::uint8_t> bytes(gguf::row_size(info.type, n_cols));
    for (std::int64_t r = 0; r < info.n_rows(); ++r) {
      for (float& value : row) value = info.n_dims == 1 ? 1.0f : normal(rng);
      tensor::quantize_row(info.type, row.data(), bytes.data(), n_cols);
      out.write(bytes);
    }
  });
  return path;
}

}  // namespace qrag::engine
