// ROUGE-1 and ROUGE-L F-measures exactly as Python rouge_score 0.1.2 computes them without stemming.
#include "metrics/rouge.h"

#include <algorithm>
#include <map>

#include "core/check.h"

namespace qrag::metrics {

std::vector<std::string> rouge_tokenize(std::string_view text) {
  std::vector<std::string> tokens;
  std::string current;
  auto flush = [&] {
    if (!current.empty()) tokens.push_back(std::move(current));
    current.clear();
  };
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      current.push_back(static_cast<char>(c));
      ++i;
    } else if (c >= 'A' && c <= 'Z') {
      current.push_back(static_cast<char>(c - 'A' + 'a'));
      ++i;
    } else if (c == 0xC4 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0xB0) {
      // U+0130 lower-cases to "i" + U+0307, and the combining dot then separates tokens.
      current.push_back('i');
      flush();
      i += 2;
    } else if (c == 0xE2 && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x84 &&
               static_cast<unsigned char>(text[i + 2]) == 0xAA) {
      current.push_back('k');  // U+212A KELVIN SIGN lower-cases to ASCII "k"
      i += 3;
    } else {
      flush();
      ++i;
    }
  }
  flush();
  return tokens;
}

namespace {

double fmeasure(double precision, double recall) {
  if (precision + recall > 0) return 2 * precision * recall / (precision + recall);
  return 0.0;
}

std::map<std::vector<std::string_view>, long> count_ngrams(std::span<const std::string> tokens, int n) {
  std::map<std::vector<std::string_view>, long> counts;
  const auto width = static_cast<std::size_t>(n);
  for (std::size_t i = 0; i + width <= tokens.size(); ++i) {
    std::vector<std::string_view> key(tokens.begin() + static_cast<long>(i),
                                      tokens.begin() + static_cast<long>(i + width));
    ++counts[key];
  }
  return counts;
}

}  // namespace

RougeScore rouge_n(std::span<const std::string> target, std::span<const std::string> prediction, int n) {
  QRAG_CHECK(n >= 1, "ROUGE-N needs n >= 1");
  const auto target_counts = count_ngrams(target, n);
  const auto prediction_counts = count_ngrams(prediction, n);
  long overlap = 0;
  long target_total = 0;
  long prediction_total = 0;
  for (const auto& [gram, count] : target_counts) {
    target_total += count;
    const auto it = prediction_counts.find(gram);
    if (it != prediction_counts.end()) overlap += std::min(count, it->second);
  }
  for (const auto& [gram, count] : prediction_counts) prediction_total += count;
  RougeScore score;
  score.precision = static_cast<double>(overlap) / static_cast<double>(std::max(prediction_total, 1L));
  score.recall = static_cast<double>(overlap) / static_cast<double>(std::max(target_total, 1L));
  score.fmeasure = fmeasure(score.precision, score.recall);
  return score;
}

RougeScore rouge_l(std::span<const std::string> target, std::span<const std::string> prediction) {
  if (target.empty() || prediction.empty()) return {};
  // Two rows of the LCS table: previous[j] is the LCS of target[0, i) and prediction[0, j).
  std::vector<std::size_t> previous(prediction.size() + 1, 0);
  std::vector<std::size_t> current(prediction.size() + 1, 0);
  for (std::size_t i = 1; i <= target.size(); ++i) {
    for (std::size_t j = 1; j <= prediction.size(); ++j) {
      current[j] = target[i - 1] == prediction[j - 1] ? previous[j - 1] + 1
                                                      : std::max(previous[j], current[j - 1]);
    }
    std::swap(previous, current);
  }
  const auto lcs = static_cast<double>(previous[prediction.size()]);
  RougeScore score;
  score.precision = lcs / static_cast<double>(prediction.size());
  score.recall = lcs / static_cast<double>(target.size());
  score.fmeasure = fmeasure(score.precision, score.recall);
  return score;
}

RougeMeans mean_rouge(std::span<const std::string> predictions, std::span<const std::string> references) {
  QRAG_CHECK(predictions.size() == references.size(), "predictions and references differ in count");
  RougeMeans means;
  if (predictions.empty()) return means;
  for (std::size_t i = 0; i < predictions.size(); ++i) {
    const auto target = rouge_tokenize(references[i]);
    const auto prediction = rouge_tokenize(predictions[i]);
    means.rouge1 += rouge_n(target, prediction, 1).fmeasure;
    means.rouge_l += rouge_l(target, prediction).fmeasure;
  }
  means.rouge1 /= static_cast<double>(predictions.size());
  means.rouge_l /= static_cast<double>(predictions.size());
  return means;
}

}  // namespace qrag::metrics
