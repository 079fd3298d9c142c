// Per-cell summaries and paired reference-vs-quantized comparisons over stored rows.
#include "experiment/analysis.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>

#include <fmt/core.h>

#include "core/error.h"

namespace qrag::experiment {
namespace {

using RowList = std::vector<const ResultRow*>;

double score_of(const ResultRow& row, const std::string& name) {
  const auto found = row.scores.find(name);
  if (found == row.scores.end()) {
    throw Error(fmt::format("row '{}' (question '{}', cell {}) has no score '{}'", row.key, row.question_id,
                            row.cell.id(), name));
  }
  return found->second;
}

bool cell_less(const Cell& a, const Cell& b) {
  const auto k_order = [](const KValue& k) { return k.is_max ? INT64_MAX : std::int64_t{k.count}; };
  return std::make_tuple(a.dataset, a.model, precision_rank(a.precision), a.precision, a.retriever, k_order(a.k),
                         static_cast<int>(a.order), a.seed) <
         std::make_tuple(b.dataset, b.model, precision_rank(b.precision), b.precision, b.retriever, k_order(b.k),
                         static_cast<int>(b.order), b.seed);
}

CostSummary summarize_cost(const RowList& rows) {
  CostSummary cost;
  for (const ResultRow* row : rows) {
    cost.prompt_tokens += static_cast<double>(row->prompt_tokens);
    cost.generated_tokens += static_cast<double>(row->generated_tokens);
    cost.ttft_ms += row->ttft_ms;
    cost.prefill_tokens_per_s += row->prefill_tokens_per_s;
    cost.decode_tokens_per_s += row->decode_tokens_per_s;
    cost.peak_memory_bytes = std::max(cost.peak_memory_bytes, row->peak_memory_bytes);
    cost.kv_cache_bytes = std::max(cost.kv_cache_bytes, row->kv_cache_bytes);
  }
  const auto n = static_cast<double>(std::max<std::size_t>(rows.size(), 1));
  cost.prompt_tokens /= n;
  cost.generated_tokens /= n;
  cost.ttft_ms /= n;
  cost.prefill_tokens_per_s /= n;
  cost.decode_tokens_per_s /= n;
  return cost;
}

std::vector<MetricDefinition> metrics_for(int task, const AnalysisOptions& options) {
  return options.metrics ? options.metrics(task) : default_metrics(task);
}

CellSummary summarize_cell(const RowList& rows, const AnalysisOptions& options) {
  CellSummary summary;
  summary.cell = rows.front()->cell;
  summary.questions = rows.size();
  summary.cost = summarize_cost(rows);
  RowList scored;
  for (const ResultRow* row : rows) {
    if (row->truncated) ++summary.truncated;
    if (!row->scores.empty()) scored.push_back(row);
  }
  summary.scored = scored.size();
  if (scored.empty()) return summary;
  for (const MetricDefinition& metric : metrics_for(summary.cell.task, options)) {
    const Statistic statistic = [&](std::span<const std::size_t> indices) { return metric.compute(scored, indices); };
    summary.metrics.push_back({metric.name, metric.higher_is_better, bootstrap_ci(scored.size(), statistic,
                                                                                    options.bootstrap)});
  }
  return summary;
}

PairedMetric compare_metric(const MetricDefinition& metric, const RowList& ref, const RowList& quant,
                            const AnalysisOptions& options) {
  PairedMetric paired{metric.name, metric.higher_is_better, {}, {}};
  const Statistic difference = [&](std::span<const std::size_t> indices) {
    return metric.compute(quant, indices) - metric.compute(ref, indices);
  };
  paired.difference = bootstrap_ci(ref.size(), difference, options.bootstrap);
  if (metric.binary) {
    std::size_t b = 0;
    std::size_t c = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      const bool ref_right = score_of(*ref[i], metric.paired_score) > 0.5;
      const bool quant_right = score_of(*quant[i], metric.paired_score) > 0.5;
      b += ref_right && !quant_right;
      c += !ref_right && quant_right;
    }
    paired.test = mcnemar_exact(b, c);
  } else {
    std::vector<double> differences;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      differences.push_back(score_of(*quant[i], metric.paired_score) - score_of(*ref[i], metric.paired_score));
    }
    paired.test = sign_flip_test(differences, options.permutation_resamples, options.bootstrap.seed);
  }
  return paired;
}

void add_flips_and_distributions(const RowList& ref, const RowList& quant, PairSummary& pair) {
  bool all_have_correct = true;
  std::size_t right_to_wrong = 0;
  std::size_t wrong_to_right = 0;
  double kl_sum = 0.0;
  std::size_t agreements = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    if (ref[i]->prediction != quant[i]->prediction) ++pair.changed_predictions;
    const auto ref_correct = ref[i]->scores.find("correct");
    const auto quant_correct = quant[i]->scores.find("correct");
    if (ref_correct == ref[i]->scores.end() || quant_correct == quant[i]->scores.end()) {
      all_have_correct = false;
    } else {
      right_to_wrong += ref_correct->second > 0.5 && quant_correct->second <= 0.5;
      wrong_to_right += ref_correct->second <= 0.5 && quant_correct->second > 0.5;
    }
    if (!ref[i]->first_step.empty() && !quant[i]->first_step.empty()) {
      kl_sum += kl_divergence_topk(ref[i]->first_step, quant[i]->first_step);
      agreements += top1_agrees(ref[i]->first_step, quant[i]->first_step);
      ++pair.distribution_pairs;
    }
  }
  if (all_have_correct && !ref.empty()) {
    pair.right_to_wrong = right_to_wrong;
    pair.wrong_to_right = wrong_to_right;
  }
  if (pair.distribution_pairs > 0) {
    pair.mean_kl = kl_sum / static_cast<double>(pair.distribution_pairs);
    pair.top1_agreement = static_cast<double>(agreements) / static_cast<double>(pair.distribution_pairs);
  }
}

PairSummary compare_cells(const RowList& ref_rows, const RowList& quant_rows, const AnalysisOptions& options) {
  PairSummary pair;
  pair.reference = ref_rows.front()->cell;
  pair.quantized = quant_rows.front()->cell;
  std::map<std::string, const ResultRow*> ref_by_question;
  for (const ResultRow* row : ref_rows) ref_by_question[row->question_id] = row;
  RowList ref;
  RowList quant;
  for (const ResultRow* row : quant_rows) {
    const auto found = ref_by_question.find(row->question_id);
    if (found == ref_by_question.end()) continue;
    ref.push_back(found->second);
    quant.push_back(row);
  }
  pair.pairs = ref.size();
  add_flips_and_distributions(ref, quant, pair);

  RowList ref_scored;
  RowList quant_scored;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    if (!ref[i]->scores.empty() && !quant[i]->scores.empty()) {
      ref_scored.push_back(ref[i]);
      quant_scored.push_back(quant[i]);
    }
  }
  if (ref_scored.empty()) return pair;
  for (const MetricDefinition& metric : metrics_for(pair.reference.task, options)) {
    pair.metrics.push_back(compare_metric(metric, ref_scored, quant_scored, options));
  }
  return pair;
}

}  // namespace

int precision_rank(const std::string& precision) {
  static constexpr std::array<const char*, 17> kOrder = {"f32",  "stored", "f16",  "bf16", "q8_0",  "q8_k",
                                                         "q6_k", "q5_k",   "q5_1", "q5_0", "q4_k",  "q4_1",
                                                         "q4_0", "iq4_nl", "q3_k", "q2_k", "tq2_0"};
  for (std::size_t i = 0; i < kOrder.size(); ++i) {
    if (precision == kOrder[i]) return static_cast<int>(i);
  }
  return static_cast<int>(kOrder.size());
}

MetricDefinition mean_metric(std::string name, std::string score, bool higher_is_better, bool binary) {
  MetricDefinition metric{std::move(name), higher_is_better, score, binary, {}};
  metric.compute = [score](std::span<const ResultRow* const> rows, std::span<const std::size_t> indices) {
    double sum = 0.0;
    for (std::size_t index : indices) sum += score_of(*rows[index], score);
    return sum / static_cast<double>(indices.size());
  };
  return metric;
}

MetricDefinition root_mean_metric(std::string name, std::string score) {
  MetricDefinition metric{std::move(name), false, score, false, {}};
  metric.compute = [score](std::span<const ResultRow* const> rows, std::span<const std::size_t> indices) {
    double sum = 0.0;
    for (std::size_t index : indices) sum += score_of(*rows[index], score);
    return std::sqrt(sum / static_cast<double>(indices.size()));
  };
  return metric;
}

MetricDefinition macro_f1_metric(std::string name) {
  MetricDefinition metric{std::move(name), true, "correct", true, {}};
  metric.compute = [](std::span<const ResultRow* const> rows, std::span<const std::size_t> indices) {
    std::set<std::string> labels;
    for (const ResultRow* row : rows) labels.insert(row->gold);
    std::map<std::string, std::array<double, 3>> counts;  // label -> {true positive, predicted, gold}
    for (std::size_t index : indices) {
      const ResultRow& row = *rows[index];
      if (row.prediction == row.gold) counts[row.gold][0] += 1;
      counts[row.prediction][1] += 1;
      counts[row.gold][2] += 1;
    }
    double f1_sum = 0.0;
    std::size_t used = 0;
    for (const std::string& label : labels) {
      const std::array<double, 3>& c = counts[label];
      if (c[1] == 0 && c[2] == 0) continue;
      f1_sum += 2 * c[0] / (c[1] + c[2]);
      ++used;
    }
    return used > 0 ? f1_sum / static_cast<double>(used) : 0.0;
  };
  return metric;
}

std::vector<MetricDefinition> default_metrics(int task) {
  if (task == 1 || task == 2) return {mean_metric("accuracy", "correct", true, true), macro_f1_metric("f1")};
  if (task == 3) return {mean_metric("mae", "abs_error", false, false), root_mean_metric("rmse", "squared_error")};
  return {mean_metric("rouge1", "rouge1", true, false), mean_metric("rougeL", "rougeL", true, false)};
}

Analysis analyze(std::span<const ResultRow> rows, const AnalysisOptions& options) {
  std::map<std::string, RowList> by_cell;
  for (const ResultRow& row : rows) by_cell[row.cell.id()].push_back(&row);
  std::vector<RowList> cells;
  for (auto& [id, list] : by_cell) {
    std::sort(list.begin(), list.end(),
              [](const ResultRow* a, const ResultRow* b) { return a->question_id < b->question_id; });
    cells.push_back(std::move(list));
  }
  std::sort(cells.begin(), cells.end(),
            [](const RowList& a, const RowList& b) { return cell_less(a.front()->cell, b.front()->cell); });

  Analysis analysis;
  std::map<std::string, std::vector<std::size_t>> by_pair;  // pair id -> positions in `cells`
  for (std::size_t i = 0; i < cells.size(); ++i) {
    analysis.cells.push_back(with_context(fmt::format("cell {}", cells[i].front()->cell.id()),
                                          [&] { return summarize_cell(cells[i], options); }));
    by_pair[cells[i].front()->cell.pair_id()].push_back(i);
  }

  for (std::size_t i = 0; i < cells.size(); ++i) {
    const Cell& cell = cells[i].front()->cell;
    const std::vector<std::size_t>& group = by_pair[cell.pair_id()];
    std::optional<std::size_t> reference;
    for (std::size_t j : group) {
      const std::string& precision = cells[j].front()->cell.precision;
      const bool better = options.reference_precision.empty()
                              ? (!reference || precision_rank(precision) < precision_rank(cells[*reference].front()->cell.precision))
                              : precision == options.reference_precision;
      if (better) reference = j;
    }
    if (!reference || *reference == i) continue;
    analysis.pairs.push_back(with_context(fmt::format("comparing cell {} with its reference", cell.id()), [&] {
      return compare_cells(cells[*reference], cells[i], options);
    }));
  }
  return analysis;
}

}  // namespace qrag::experiment
