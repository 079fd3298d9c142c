// The official LaMP metrics: accuracy and macro-F1, MAE and RMSE, and task-level evaluation.
#include "metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_map>

#include <fmt/format.h>

#include "core/check.h"
#include "core/error.h"
#include "lamp/query.h"
#include "metrics/rouge.h"

namespace qrag::metrics {

ClassificationScores classification_scores(std::span<const std::string> predictions,
                                           std::span<const std::string> golds,
                                           std::span<const std::string_view> labels) {
  QRAG_CHECK(predictions.size() == golds.size(), "predictions and golds differ in count");
  auto label_index = [&](std::string_view text) -> long {
    const auto it = std::find(labels.begin(), labels.end(), lamp::strip(text));
    return it == labels.end() ? -1 : static_cast<long>(it - labels.begin());
  };
  std::vector<long> tp(labels.size(), 0);
  std::vector<long> fp(labels.size(), 0);
  std::vector<long> fn(labels.size(), 0);
  long correct = 0;
  for (std::size_t i = 0; i < golds.size(); ++i) {
    const long gold = label_index(golds[i]);
    if (gold < 0) {
      throw Error(fmt::format("gold {} '{}' is not one of the task's labels ({})", i, golds[i],
                              fmt::join(labels, ", ")));
    }
    const long predicted = label_index(predictions[i]);
    if (predicted == gold) {
      ++correct;
      ++tp[static_cast<std::size_t>(gold)];
    } else {
      ++fn[static_cast<std::size_t>(gold)];
      if (predicted >= 0) ++fp[static_cast<std::size_t>(predicted)];
    }
  }
  ClassificationScores scores;
  if (golds.empty()) return scores;
  scores.accuracy = static_cast<double>(correct) / static_cast<double>(golds.size());
  double f1_sum = 0.0;
  for (std::size_t l = 0; l < labels.size(); ++l) {
    const long denominator = 2 * tp[l] + fp[l] + fn[l];
    if (denominator > 0) f1_sum += static_cast<double>(2 * tp[l]) / static_cast<double>(denominator);
  }
  scores.macro_f1 = labels.empty() ? 0.0 : f1_sum / static_cast<double>(labels.size());
  return scores;
}

std::optional<double> python_float(std::string_view text) {
  text = lamp::strip(text);
  if (text.empty()) return std::nullopt;
  std::string_view body = text;
  const bool negative = body.front() == '-';
  if (body.front() == '+' || body.front() == '-') body.remove_prefix(1);
  std::string lowered(body);
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lowered == "inf" || lowered == "infinity") {
    return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  if (lowered == "nan") return std::numeric_limits<double>::quiet_NaN();
  // Digits, one optional '.', an optional exponent; '_' only between two digits.
  std::string cleaned;
  bool seen_digit = false;
  bool seen_dot = false;
  bool seen_exp = false;
  bool exp_digit = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    const bool prev_digit = i > 0 && std::isdigit(static_cast<unsigned char>(body[i - 1]));
    const bool next_digit = i + 1 < body.size() && std::isdigit(static_cast<unsigned char>(body[i + 1]));
    if (std::isdigit(static_cast<unsigned char>(c))) {
      (seen_exp ? exp_digit : seen_digit) = true;
      cleaned.push_back(c);
    } else if (c == '_' && prev_digit && next_digit) {
      continue;
    } else if (c == '.' && !seen_dot && !seen_exp) {
      seen_dot = true;
      cleaned.push_back(c);
    } else if ((c == 'e' || c == 'E') && seen_digit && !seen_exp) {
      seen_exp = true;
      cleaned.push_back('e');
      if (i + 1 < body.size() && (body[i + 1] == '+' || body[i + 1] == '-')) cleaned.push_back(body[++i]);
    } else {
      return std::nullopt;
    }
  }
  if (!seen_digit || (seen_exp && !exp_digit)) return std::nullopt;
  double value = 0.0;
  const auto [end, ec] = std::from_chars(cleaned.data(), cleaned.data() + cleaned.size(), value);
  if (end != cleaned.data() + cleaned.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    // Python returns inf on overflow and 0 on underflow.
    value = cleaned.find('e') != std::string::npos && cleaned[cleaned.find('e') + 1] == '-'
                ? 0.0
                : std::numeric_limits<double>::infinity();
  } else if (ec != std::errc()) {
    return std::nullopt;
  }
  return negative ? -value : value;
}

double rating_value(std::string_view prediction, double gold) {
  if (const auto value = python_float(prediction)) return *value;
  return std::abs(1.0 - gold) > std::abs(5.0 - gold) ? 1.0 : 5.0;
}

RatingScores rating_scores(std::span<const std::string> predictions, std::span<const std::string> golds) {
  QRAG_CHECK(predictions.size() == golds.size(), "predictions and golds differ in count");
  RatingScores scores;
  if (golds.empty()) return scores;
  double abs_sum = 0.0;
  double sq_sum = 0.0;
  for (std::size_t i = 0; i < golds.size(); ++i) {
    const std::optional<double> gold = python_float(golds[i]);
    if (!gold) throw Error(fmt::format("gold {} '{}' is not a number", i, golds[i]));
    const double error = rating_value(predictions[i], *gold) - *gold;
    abs_sum += std::abs(error);
    sq_sum += error * error;
  }
  const auto n = static_cast<double>(golds.size());
  scores.mae = abs_sum / n;
  scores.rmse = std::sqrt(sq_sum / n);
  return scores;
}

std::map<std::string, double> evaluate(const lamp::TaskInfo& task, const lamp::OutputSet& golds,
                                       const lamp::OutputSet& predictions) {
  std::vector<std::string> gold_ids;
  std::vector<std::string> prediction_ids;
  for (const auto& [id, output] : golds.items) gold_ids.push_back(id);
  for (const auto& [id, output] : predictions.items) prediction_ids.push_back(id);
  const lamp::IdCheck check = lamp::compare_ids(gold_ids, prediction_ids);
  if (!check.ok()) {
    throw Error("prediction ids and gold ids do not match: " + check.summary() +
                "; write exactly one prediction per gold id");
  }
  const lamp::IdCheck gold_check = lamp::compare_ids(gold_ids, gold_ids);
  if (!gold_check.ok()) throw Error("the golds list an id more than once: " + gold_check.summary());

  std::unordered_map<std::string, const std::string*> by_id;
  for (const auto& [id, output] : predictions.items) by_id[id] = &output;
  std::vector<std::string> gold_texts;
  std::vector<std::string> prediction_texts;
  for (const auto& [id, output] : golds.items) {
    gold_texts.push_back(output);
    prediction_texts.push_back(*by_id.at(id));
  }
  std::map<std::string, double> result;
  switch (task.kind) {
    case lamp::TaskKind::kClassification: {
      const ClassificationScores s = classification_scores(prediction_texts, gold_texts, task.labels);
      result["accuracy"] = s.accuracy;
      result["f1"] = s.macro_f1;
      break;
    }
    case lamp::TaskKind::kRating: {
      const RatingScores s = rating_scores(prediction_texts, gold_texts);
      result["mae"] = s.mae;
      result["rmse"] = s.rmse;
      break;
    }
    case lamp::TaskKind::kGeneration: {
      // The official evaluation strips both sides before scoring.
      for (auto& text : gold_texts) text = std::string(lamp::strip(text));
      for (auto& text : prediction_texts) text = std::string(lamp::strip(text));
      const RougeMeans means = mean_rouge(prediction_texts, gold_texts);
      result["rouge-1"] = means.rouge1;
      result["rouge-L"] = means.rouge_l;
      break;
    }
  }
  return result;
}

}  // namespace qrag::metrics
