// Content keys of result rows: XXH3-128 hashes (32 hex digits) of everything that determines them.
#pragma once

#include <string>
#include <string_view>

#include "experiment/config.h"
#include "experiment/grid.h"

namespace qrag::experiment {

// What determines one generation's output: the model bytes, the precision it ran at,
// the exact prompt text, the decoding settings and seed, and the qrag version.
struct GenerationInputs {
  std::string model_hash;  // hash of the GGUF file the generation ran on (hex)
  std::string precision;
  std::string prompt;
  DecodingSettings decoding;
  std::uint64_t seed = 0;
  std::string qrag_version;
};

// Key of a generation: rows with equal generation keys have identical outputs, so the
// runner copies such an output instead of recomputing it (e.g. k=0 under two retrievers).
std::string generation_key(const GenerationInputs& inputs);

// Key of one (question, cell) row: the generation inputs plus the question id, every cell
// field, the prompt style and the output parser. A resumed run skips rows whose key is
// already stored.
std::string row_key(const GenerationInputs& inputs, std::string_view question_id, const Cell& cell,
                    std::string_view prompt_style, std::string_view parser);

// XXH3-128 of `bytes` as 32 lower-case hex digits (canonical big-endian byte order).
std::string xxh3_128_hex(std::string_view bytes);

}  // namespace qrag::experiment
