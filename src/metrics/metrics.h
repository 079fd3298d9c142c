// The official LaMP metrics: accuracy and macro-F1, MAE and RMSE, and task-level evaluation.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lamp/dataset.h"
#include "lamp/task.h"

namespace qrag::metrics {

struct ClassificationScores {
  double accuracy = 0.0;
  double macro_f1 = 0.0;
};

// Accuracy and scikit-learn's f1_score(average="macro", labels=all labels) after stripping both
// sides. A prediction outside `labels` is wrong for every label; a gold outside `labels` is a
// user error (qrag::Error naming it). A label with no gold and no prediction has F1 0, as
// scikit-learn's zero_division default gives.
ClassificationScores classification_scores(std::span<const std::string> predictions,
                                           std::span<const std::string> golds,
                                           std::span<const std::string_view> labels);

struct RatingScores {
  double mae = 0.0;
  double rmse = 0.0;
};

// The official LaMP-3 mapping of one prediction: Python float() of the stripped text, or, when
// that fails, the end of the 1..5 scale farthest from `gold` (1 when |1 - gold| > |5 - gold|, else 5).
double rating_value(std::string_view prediction, double gold);

// Python float() of a stripped string: decimal or exponent notation, "inf", "infinity" and
// "nan" in any case, with an optional sign and "_" between digits. nullopt when float() would fail.
std::optional<double> python_float(std::string_view text);

// MAE and RMSE (square root of the mean squared error). Golds must parse as numbers.
RatingScores rating_scores(std::span<const std::string> predictions, std::span<const std::string> golds);

// Scores predictions against golds for a task, as the official LaMP evaluation does: the id sets
// must be equal (qrag::Error listing missing, unexpected and duplicated ids otherwise). Metric
// names: "accuracy" and "f1" (LaMP-1/2), "mae" and "rmse" (LaMP-3), "rouge-1" and "rouge-L"
// (generation tasks). Pairs are taken in gold order.
std::map<std::string, double> evaluate(const lamp::TaskInfo& task, const lamp::OutputSet& golds,
                                       const lamp::OutputSet& predictions);

}  // namespace qrag::metrics
