// Content keys: fields are written length-prefixed so that no two field lists share a text.
#include "experiment/key.h"

#include <fmt/core.h>
#include <xxhash.h>

namespace qrag::experiment {
namespace {

void append_field(std::string& text, std::string_view name, std::string_view value) {
  text += fmt::format("{}:{}:", name, value.size());
  text += value;
  text += '\n';
}

std::string generation_text(const GenerationInputs& inputs) {
  std::string text;
  append_field(text, "qrag_version", inputs.qrag_version);
  append_field(text, "model_hash", inputs.model_hash);
  append_field(text, "precision", inputs.precision);
  append_field(text, "decoding", inputs.decoding.canonical());
  append_field(text, "seed", std::to_string(inputs.seed));
  append_field(text, "prompt", inputs.prompt);
  return text;
}

}  // namespace

std::string xxh3_128_hex(std::string_view bytes) {
  const XXH128_hash_t hash = XXH3_128bits(bytes.data(), bytes.size());
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, hash);
  std::string hex;
  hex.reserve(32);
  for (unsigned char byte : canonical.digest) hex += fmt::format("{:02x}", byte);
  return hex;
}

std::string generation_key(const GenerationInputs& inputs) {
  return xxh3_128_hex(generation_text(inputs));
}

std::string row_key(const GenerationInputs& inputs, std::string_view question_id, const Cell& cell,
                    std::string_view prompt_style, std::string_view parser) {
  std::string text = generation_text(inputs);
  append_field(text, "question_id", question_id);
  append_field(text, "cell", cell.id());
  append_field(text, "task", std::to_string(cell.task));
  append_field(text, "prompt_style", prompt_style);
  append_field(text, "parser", parser);
  return xxh3_128_hex(text);
}

}  // namespace qrag::experiment
