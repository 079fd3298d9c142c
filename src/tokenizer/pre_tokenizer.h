// BPE pre-tokenizers: hand-written matchers for the split patterns of each vocabulary.
#pragma once

#include <cstdint>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace qrag::tokenizer {

// A half-open range [begin, end) of code point indices.
struct CodepointRange {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
};

// Splits `text` into words as llama.cpp's pre-tokenizer for `pre` does: each
// pattern of the list splits every range produced by the previous one into its
// matches and the unmatched text between them. `scratch` avoids reallocations.
void pre_tokenize(PreTokenizer pre, const CodepointText& text, std::vector<CodepointRange>& words,
                  std::vector<CodepointRange>& scratch);

}  // namespace qrag::tokenizer
