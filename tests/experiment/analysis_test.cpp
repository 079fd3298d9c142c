// Tests of per-cell summaries and paired precision comparisons on hand-made rows.
#include "experiment/analysis.h"

#include <cmath>

#include <gtest/gtest.h>

#include "fake_backend.h"

namespace qrag::experiment {
namespace {

std::map<std::string, double> lamp3_scores(int prediction, int gold) {
  const double error = prediction - gold;
  return {{"abs_error", std::fabs(error)}, {"squared_error", error * error}, {"correct", error == 0 ? 1.0 : 0.0}};
}

// Reference (stored) and q4_0 cells over 6 questions with known predictions.
std::vector<ResultRow> lamp3_rows() {
  const int gold[] = {5, 4, 5, 3, 1, 5};
  const int ref[] = {5, 4, 4, 3, 2, 5};
  const int quant[] = {4, 4, 5, 1, 2, 3};
  std::vector<ResultRow> rows;
  for (int q = 0; q < 6; ++q) {
    const std::string id = "q" + std::to_string(q);
    rows.push_back(fake::make_row(fake::make_cell("stored", 1), id, std::to_string(ref[q]), std::to_string(gold[q]),
                                  lamp3_scores(ref[q], gold[q])));
    rows.push_back(fake::make_row(fake::make_cell("q4_0", 1), id, std::to_string(quant[q]),
                                  std::to_string(gold[q]), lamp3_scores(quant[q], gold[q])));
  }
  return rows;
}

AnalysisOptions fast_options() {
  AnalysisOptions options;
  options.bootstrap.resamples = 1000;
  options.permutation_resamples = 2000;
  return options;
}

TEST(Analysis, CellMetricsMatchHandValues) {
  const std::vector<ResultRow> rows = lamp3_rows();
  const Analysis analysis = analyze(rows, fast_options());
  ASSERT_EQ(analysis.cells.size(), 2u);
  const CellSummary& ref = analysis.cells[0];
  EXPECT_EQ(ref.cell.precision, "stored");
  EXPECT_EQ(ref.questions, 6u);
  ASSERT_EQ(ref.metrics.size(), 2u);
  EXPECT_EQ(ref.metrics[0].name, "mae");
  EXPECT_DOUBLE_EQ(ref.metrics[0].value.estimate, 2.0 / 6.0);  // errors 0,0,1,0,1,0
  EXPECT_EQ(ref.metrics[1].name, "rmse");
  EXPECT_DOUBLE_EQ(ref.metrics[1].value.estimate, std::sqrt(2.0 / 6.0));
  EXPECT_LE(ref.metrics[0].value.lower, ref.metrics[0].value.estimate);
  EXPECT_GE(ref.metrics[0].value.upper, ref.metrics[0].value.estimate);
  const CellSummary& quant = analysis.cells[1];
  EXPECT_DOUBLE_EQ(quant.metrics[0].value.estimate, 1.0);  // errors 1,0,0,2,1,2
  EXPECT_DOUBLE_EQ(quant.cost.prompt_tokens, 102.0);
  EXPECT_EQ(quant.cost.kv_cache_bytes, 4096);
}

TEST(Analysis, PairFlipsAndTests) {
  const std::vector<ResultRow> rows = lamp3_rows();
  const Analysis analysis = analyze(rows, fast_options());
  ASSERT_EQ(analysis.pairs.size(), 1u);
  const PairSummary& pair = analysis.pairs[0];
  EXPECT_EQ(pair.reference.precision, "stored");
  EXPECT_EQ(pair.quantized.precision, "q4_0");
  EXPECT_EQ(pair.pairs, 6u);
  // correct ref: 1,1,0,1,0,1; quant: 0,1,1,0,0,0.
  ASSERT_TRUE(pair.right_to_wrong.has_value());
  EXPECT_EQ(*pair.right_to_wrong, 3u);
  EXPECT_EQ(*pair.wrong_to_right, 1u);
  EXPECT_EQ(pair.changed_predictions, 4u);
  ASSERT_EQ(pair.metrics.size(), 2u);
  EXPECT_DOUBLE_EQ(pair.metrics[0].difference.estimate, 4.0 / 6.0);  // MAE 6/6 - 2/6
  // Paired abs-error differences 1,0,-1,2,0,2: the exact test runs over the 4 nonzero ones.
  EXPECT_EQ(pair.metrics[0].test.name, "sign-flip-exact");
  EXPECT_EQ(pair.metrics[0].test.n, 4u);
  EXPECT_FALSE(pair.mean_kl.has_value());
}

TEST(Analysis, SignFlipPValueByEnumeration) {
  // The same differences as above checked by brute force: d = {1, -1, 2, 2}.
  const std::vector<double> d = {1, -1, 2, 2};
  int hits = 0;
  for (int mask = 0; mask < 16; ++mask) {
    double sum = 0;
    for (int i = 0; i < 4; ++i) sum += (mask >> i & 1) ? -d[i] : d[i];
    hits += std::fabs(sum) >= 4 - 1e-12;
  }
  const std::vector<ResultRow> rows = lamp3_rows();
  const Analysis analysis = analyze(rows, fast_options());
  EXPECT_EQ(hits, 6);
  EXPECT_DOUBLE_EQ(analysis.pairs[0].metrics[0].test.p_value, hits / 16.0);
}

TEST(Analysis, AccuracyUsesMcNemar) {
  std::vector<ResultRow> rows;
  // 10 questions: reference right on all, quantized wrong on 7 -> b = 7, c = 0.
  for (int q = 0; q < 10; ++q) {
    const std::string id = "q" + std::to_string(q);
    const std::string wrong = q < 7 ? "x" : "a";
    rows.push_back(fake::make_row(fake::make_cell("f16", 0, 2), id, "a", "a", {{"correct", 1.0}}));
    rows.push_back(fake::make_row(fake::make_cell("q8_0", 0, 2), id, wrong, "a", {{"correct", q < 7 ? 0.0 : 1.0}}));
  }
  const Analysis analysis = analyze(rows, fast_options());
  ASSERT_EQ(analysis.pairs.size(), 1u);
  const PairedMetric& accuracy = analysis.pairs[0].metrics[0];
  EXPECT_EQ(accuracy.name, "accuracy");
  EXPECT_EQ(accuracy.test.name, "mcnemar-exact");
  EXPECT_NEAR(accuracy.test.p_value, 2.0 / 128.0, 1e-12);
  EXPECT_DOUBLE_EQ(accuracy.difference.estimate, -0.7);
  EXPECT_EQ(analysis.pairs[0].metrics[1].name, "f1");
}

TEST(Analysis, MacroF1HandComputed) {
  // gold a,a,b,b; prediction a,b,b,b: F1(a) = 2*1/(1+2) = 2/3, F1(b) = 2*2/(3+2) = 4/5.
  std::vector<ResultRow> rows;
  const char* gold[] = {"a", "a", "b", "b"};
  const char* prediction[] = {"a", "b", "b", "b"};
  for (int q = 0; q < 4; ++q) {
    rows.push_back(fake::make_row(fake::make_cell("f16", 0, 2), "q" + std::to_string(q), prediction[q], gold[q],
                                  {{"correct", std::string(gold[q]) == prediction[q] ? 1.0 : 0.0}}));
  }
  std::vector<const ResultRow*> pointers;
  for (const ResultRow& row : rows) pointers.push_back(&row);
  const std::vector<std::size_t> all = {0, 1, 2, 3};
  EXPECT_NEAR(macro_f1_metric("f1").compute(pointers, all), (2.0 / 3.0 + 0.8) / 2, 1e-12);
}

TEST(Analysis, KlAndTop1FromRecords) {
  std::vector<ResultRow> rows = lamp3_rows();
  const std::vector<float> logits_a = {2.0f, 1.0f, 0.0f, -1.0f};
  const std::vector<float> logits_b = {1.0f, 2.0f, 0.0f, -1.0f};
  for (ResultRow& row : rows) {
    const bool swapped = row.cell.precision == "q4_0" && row.question_id == "q0";
    row.first_step = make_topk_record(swapped ? logits_b : logits_a, 4);
  }
  const Analysis analysis = analyze(rows, fast_options());
  const PairSummary& pair = analysis.pairs[0];
  EXPECT_EQ(pair.distribution_pairs, 6u);
  ASSERT_TRUE(pair.top1_agreement.has_value());
  EXPECT_DOUBLE_EQ(*pair.top1_agreement, 5.0 / 6.0);
  const double kl_one = kl_divergence_topk(make_topk_record(logits_a, 4), make_topk_record(logits_b, 4));
  EXPECT_GT(kl_one, 0.0);
  EXPECT_NEAR(*pair.mean_kl, kl_one / 6.0, 1e-9);
}

TEST(Analysis, ReferencePrecisionOption) {
  std::vector<ResultRow> rows = lamp3_rows();
  AnalysisOptions options = fast_options();
  options.reference_precision = "q4_0";
  const Analysis analysis = analyze(rows, options);
  ASSERT_EQ(analysis.pairs.size(), 1u);
  EXPECT_EQ(analysis.pairs[0].reference.precision, "q4_0");
  EXPECT_DOUBLE_EQ(analysis.pairs[0].metrics[0].difference.estimate, -4.0 / 6.0);
}

TEST(Analysis, UnscoredRowsHaveNoMetrics) {
  std::vector<ResultRow> rows = lamp3_rows();
  for (ResultRow& row : rows) row.scores.clear();
  const Analysis analysis = analyze(rows, fast_options());
  EXPECT_TRUE(analysis.cells[0].metrics.empty());
  EXPECT_EQ(analysis.cells[0].scored, 0u);
  EXPECT_TRUE(analysis.pairs[0].metrics.empty());
  EXPECT_FALSE(analysis.pairs[0].right_to_wrong.has_value());
}

TEST(Analysis, PrecisionRankOrder) {
  EXPECT_LT(precision_rank("stored"), precision_rank("q8_0"));
  EXPECT_LT(precision_rank("q8_0"), precision_rank("q4_0"));
  EXPECT_LT(precision_rank("f16"), precision_rank("unknown"));
}

}  // namespace
}  // namespace qrag::experiment
