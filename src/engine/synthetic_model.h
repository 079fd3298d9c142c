// Random-weight llama GGUF files with real models' shapes, for speed benchmarks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace qrag::engine {

// Shape of a synthetic llama model.
struct SyntheticShape {
  std::string name;  // e.g. "smollm2-135m"
  std::int64_t n_vocab = 0;
  std::int64_t n_embd = 0;
  std::int64_t n_layer = 0;
  std::int64_t n_head = 0;
  std::int64_t n_head_kv = 0;
  std::int64_t n_ff = 0;
};

// A parsed "--synthetic SHAPE:TYPE" value, e.g. "smollm2-135m:q4_0".
struct SyntheticSpec {
  SyntheticShape shape;
  std::string type;  // f32, f16, q8_0, q4_0, q4_1, q4_k_m
};

// Parses SHAPE:TYPE. Known shapes: "smollm2-135m" (n_embd 576, 30 layers, 9 heads,
// 3 KV heads, n_ff 1536, vocab 50257), "stories260k" and "tinyllama-1.1b" (n_embd
// 2048, 22 layers, 32 heads, 4 KV heads, n_ff 5632, vocab 32000). Throws qrag::Error
// listing the known names otherwise.
SyntheticSpec parse_synthetic_spec(std::string_view text);

// Writes the model to `dir`/<shape>-<type>.gguf unless that file exists with a
// vocabulary, and returns its path. Weights are N(0, 0.02) from a fixed seed, norms are 1,
// the output matrix is separate, and the vocabulary is a SentencePiece one of byte
// and filler tokens (loadable by llama.cpp too). "q4_k_m" follows llama.cpp's mix: Q4_K
// matrices with Q6_K for output and attn_v/ffn_down of every other layer, and
// Q5_0 (Q8_0 for the Q6_K ones) where a row length is not a multiple of 256.
std::filesystem::path write_synthetic_model(const SyntheticSpec& spec, const std::filesystem::path& dir);

}  // namespace qrag::engine
