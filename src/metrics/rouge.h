// ROUGE-1 and ROUGE-L F-measures exactly as Python rouge_score 0.1.2 computes them without stemming.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qrag::metrics {

// rouge_score's tokenizer: lower-case (Python str.lower, whose only non-ASCII results that
// survive are U+0130 -> "i" and U+212A KELVIN SIGN -> "k"), every run of characters other than
// [a-z0-9] becomes a separator, and the remaining runs are the tokens. Works on UTF-8 bytes.
std::vector<std::string> rouge_tokenize(std::string_view text);

struct RougeScore {
  double precision = 0.0;
  double recall = 0.0;
  double fmeasure = 0.0;
};

// Unigram overlap with clipped counts; precision and recall divide by max(count, 1).
RougeScore rouge_n(std::span<const std::string> target, std::span<const std::string> prediction, int n);

// Sentence-level longest common subsequence; all zero when either side has no tokens.
RougeScore rouge_l(std::span<const std::string> target, std::span<const std::string> prediction);

// Mean ROUGE-1 and ROUGE-L F-measures over pairs (the official LaMP metric names).
struct RougeMeans {
  double rouge1 = 0.0;
  double rouge_l = 0.0;
};

// Both vectors have the same length (checked); an empty set gives zeros.
RougeMeans mean_rouge(std::span<const std::string> predictions, std::span<const std::string> references);

}  // namespace qrag::metrics
