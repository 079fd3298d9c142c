// Analysis of a results store: per-cell metrics with bootstrap CIs, cost, and paired precision comparisons.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "experiment/grid.h"
#include "experiment/stats.h"
#include "experiment/store.h"

namespace qrag::experiment {

// A task metric computed from rows. `compute` aggregates the rows at `indices` (a
// bootstrap resample of 0..rows.size()-1), so metrics that are not means of per-question
// values (RMSE, macro-F1) are recomputed on every resample.
struct MetricDefinition {
  std::string name;
  bool higher_is_better = true;
  // Per-question score (a key of ResultRow::scores) that the paired test compares; every
  // row the metric uses must have it.
  std::string paired_score;
  bool binary = false;  // paired_score is 0/1, so the paired test is exact McNemar
  std::function<double(std::span<const ResultRow* const> rows, std::span<const std::size_t> indices)> compute;
};

// Mean of a per-question score, e.g. accuracy from "correct", MAE from "abs_error".
MetricDefinition mean_metric(std::string name, std::string score, bool higher_is_better, bool binary);
// sqrt(mean of a per-question squared error), e.g. RMSE from "squared_error".
MetricDefinition root_mean_metric(std::string name, std::string score);
// Macro-averaged F1 over labels (prediction vs gold strings). The labels are the gold
// labels of the original sample. A label with no gold and no prediction in a resample is
// left out of that resample's average. The paired score is "correct".
MetricDefinition macro_f1_metric(std::string name);

// The metrics of a LaMP task from the scores the runner writes (see store.h):
// 1, 2: accuracy, f1 (macro); 3: mae, rmse; 4..7: rouge1, rougeL.
std::vector<MetricDefinition> default_metrics(int task);

struct MetricEstimate {
  std::string name;
  bool higher_is_better = true;
  Interval value;
};

// Means over the rows of a cell (maxima for the memory columns).
struct CostSummary {
  double prompt_tokens = 0.0;
  double generated_tokens = 0.0;
  double ttft_ms = 0.0;
  double prefill_tokens_per_s = 0.0;
  double decode_tokens_per_s = 0.0;
  std::int64_t peak_memory_bytes = 0;
  std::int64_t kv_cache_bytes = 0;
};

struct CellSummary {
  Cell cell;
  std::size_t questions = 0;  // rows in the cell
  std::size_t scored = 0;     // rows with gold outputs and scores
  std::size_t truncated = 0;  // rows whose documents were cut to fit
  std::vector<MetricEstimate> metrics;  // empty when no row is scored
  CostSummary cost;
};

struct PairedMetric {
  std::string name;
  bool higher_is_better = true;
  Interval difference;  // metric(quantized) - metric(reference), paired bootstrap CI
  TestResult test;      // on the per-question paired score
};

// A quantized cell against the reference-precision cell with the same other fields, on
// the questions both contain.
struct PairSummary {
  Cell reference;
  Cell quantized;
  std::size_t pairs = 0;
  std::vector<PairedMetric> metrics;
  // From the "correct" score; absent when the task has none.
  std::optional<std::size_t> right_to_wrong;
  std::optional<std::size_t> wrong_to_right;
  std::size_t changed_predictions = 0;
  // KL(ref || quant) over first-step records (see kl_divergence_topk for the treatment of
  // the mass outside the top 32); absent when no pair has both records.
  std::optional<double> mean_kl;
  std::optional<double> top1_agreement;  // fraction of pairs with equal top-1 tokens
  std::size_t distribution_pairs = 0;
};

struct AnalysisOptions {
  BootstrapOptions bootstrap;
  std::size_t permutation_resamples = 10000;
  // Metrics per LaMP task; empty = default_metrics.
  std::function<std::vector<MetricDefinition>(int task)> metrics;
  // Reference precision for pairs; empty = per model, the highest precision present
  // (f32, then stored, f16, bf16, q8_0, then lower bit widths).
  std::string reference_precision;
};

struct Analysis {
  std::vector<CellSummary> cells;  // sorted by dataset, model, precision rank, retriever, k, order, seed
  std::vector<PairSummary> pairs;  // in the order of their quantized cells
};

Analysis analyze(std::span<const ResultRow> rows, const AnalysisOptions& options);

// Rank of a precision name for ordering and reference choice: lower = more precise.
int precision_rank(const std::string& precision);

}  // namespace qrag::experiment
