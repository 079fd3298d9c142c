// Metric goldens: ROUGE, accuracy/macro-F1 and MAE/RMSE against rouge_score, scikit-learn and the
// official LaMP formulas (scripts/goldens/metrics_goldens.py).
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/test_paths.h"
#include "core/error.h"
#include "lamp/dataset.h"
#include "lamp/query.h"
#include "lamp/task.h"
#include "metrics/metrics.h"
#include "metrics/rouge.h"

namespace qrag::metrics {
namespace {

using nlohmann::json;
constexpr double kTolerance = 1e-12;  // the goldens were computed in IEEE double as well

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return json::parse(in);
}

std::vector<std::string> strings(const json& array) { return array.get<std::vector<std::string>>(); }

TEST(Rouge, EdgeCasesMatchRougeScore) {
  const json golden = read_json(testing::test_data("metrics/rouge_edge.json"));
  std::vector<std::string> predictions;
  std::vector<std::string> golds;
  for (const json& c : golden["cases"]) {
    const std::string prediction = c["prediction"];
    const std::string gold = c["gold"];
    SCOPED_TRACE("prediction '" + prediction + "' gold '" + gold + "'");
    EXPECT_EQ(rouge_tokenize(prediction), strings(c["prediction_tokens"]));
    const auto target_tokens = rouge_tokenize(gold);
    const auto prediction_tokens = rouge_tokenize(prediction);
    const RougeScore r1 = rouge_n(target_tokens, prediction_tokens, 1);
    const RougeScore rl = rouge_l(target_tokens, prediction_tokens);
    EXPECT_NEAR(r1.precision, c["rouge1"][0].get<double>(), kTolerance);
    EXPECT_NEAR(r1.recall, c["rouge1"][1].get<double>(), kTolerance);
    EXPECT_NEAR(r1.fmeasure, c["rouge1"][2].get<double>(), kTolerance);
    EXPECT_NEAR(rl.precision, c["rougeL"][0].get<double>(), kTolerance);
    EXPECT_NEAR(rl.recall, c["rougeL"][1].get<double>(), kTolerance);
    EXPECT_NEAR(rl.fmeasure, c["rougeL"][2].get<double>(), kTolerance);
    predictions.push_back(prediction);
    golds.push_back(gold);
  }
  lamp::OutputSet gold_set{"LaMP_5", {}};
  lamp::OutputSet prediction_set{"LaMP_5", {}};
  for (std::size_t i = 0; i < golds.size(); ++i) {
    gold_set.items.emplace_back(std::to_string(i), golds[i]);
    prediction_set.items.emplace_back(std::to_string(i), predictions[i]);
  }
  const auto result = evaluate(lamp::task_info(lamp::TaskId::kLamp5), gold_set, prediction_set);
  EXPECT_NEAR(result.at("rouge-1"), golden["means"]["rouge-1"].get<double>(), kTolerance);
  EXPECT_NEAR(result.at("rouge-L"), golden["means"]["rouge-L"].get<double>(), kTolerance);
}

TEST(Rouge, RepeatedWordsClipCounts) {
  const std::vector<std::string> target = {"the", "cat"};
  const std::vector<std::string> prediction = {"the", "the", "the"};
  const RougeScore r1 = rouge_n(target, prediction, 1);
  EXPECT_DOUBLE_EQ(r1.precision, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(r1.recall, 0.5);
}

TEST(Rouge, BigramsCountPairs) {
  const auto target = rouge_tokenize("a b c");
  const auto prediction = rouge_tokenize("a b d");
  const RougeScore r2 = rouge_n(target, prediction, 2);
  EXPECT_DOUBLE_EQ(r2.precision, 0.5);
  EXPECT_DOUBLE_EQ(r2.recall, 0.5);
}

TEST(Classification, MatchesScikitLearn) {
  const json golden = read_json(testing::test_data("metrics/classification.json"));
  for (const json& c : golden["cases"]) {
    const auto& task = lamp::task_info(lamp::parse_task(c["task"].get<std::string>()));
    const ClassificationScores scores =
        classification_scores(strings(c["predictions"]), strings(c["golds"]), task.labels);
    EXPECT_NEAR(scores.accuracy, c["accuracy"].get<double>(), kTolerance) << c.dump();
    EXPECT_NEAR(scores.macro_f1, c["f1"].get<double>(), kTolerance) << c.dump();
  }
}

TEST(Classification, InvalidGoldThrows) {
  const std::vector<std::string> predictions = {"[1]"};
  const std::vector<std::string> golds = {"[3]"};
  const auto& task = lamp::task_info(lamp::TaskId::kLamp1);
  EXPECT_THROW(classification_scores(predictions, golds, task.labels), Error);
}

TEST(Rating, MatchesOfficialFormulas) {
  const json golden = read_json(testing::test_data("metrics/rating.json"));
  for (const json& c : golden["cases"]) {
    const RatingScores scores = rating_scores(strings(c["predictions"]), strings(c["golds"]));
    EXPECT_NEAR(scores.mae, c["mae"].get<double>(), kTolerance) << c.dump();
    EXPECT_NEAR(scores.rmse, c["rmse"].get<double>(), kTolerance) << c.dump();
  }
}

TEST(Rating, PythonFloatForms) {
  EXPECT_EQ(python_float(" 4 "), 4.0);
  EXPECT_EQ(python_float("4.5"), 4.5);
  EXPECT_EQ(python_float("1_0"), 10.0);
  EXPECT_EQ(python_float("-2e1"), -20.0);
  EXPECT_EQ(python_float(".5"), 0.5);
  EXPECT_EQ(python_float("5."), 5.0);
  EXPECT_TRUE(std::isinf(*python_float("Infinity")));
  EXPECT_TRUE(std::isnan(*python_float("nan")));
  EXPECT_FALSE(python_float("").has_value());
  EXPECT_FALSE(python_float("4 stars").has_value());
  EXPECT_FALSE(python_float("1__0").has_value());
  EXPECT_FALSE(python_float("_1").has_value());
  EXPECT_FALSE(python_float("e5").has_value());
  EXPECT_FALSE(python_float("1e").has_value());
}

TEST(Rating, FallbackIsFarthestEnd) {
  EXPECT_EQ(rating_value("no idea", 5.0), 1.0);
  EXPECT_EQ(rating_value("no idea", 1.0), 5.0);
  EXPECT_EQ(rating_value("no idea", 3.0), 5.0);  // a tie goes to 5, as in the official code
  EXPECT_EQ(rating_value("2", 5.0), 2.0);
}

TEST(Evaluate, IdMismatchThrows) {
  const lamp::OutputSet golds{"LaMP_3", {{"1", "5"}, {"2", "4"}}};
  const lamp::OutputSet missing{"LaMP_3", {{"1", "5"}}};
  const lamp::OutputSet extra{"LaMP_3", {{"1", "5"}, {"2", "4"}, {"3", "1"}}};
  const lamp::OutputSet duplicated{"LaMP_3", {{"1", "5"}, {"2", "4"}, {"2", "4"}}};
  const auto& task = lamp::task_info(lamp::TaskId::kLamp3);
  EXPECT_THROW(evaluate(task, golds, missing), Error);
  EXPECT_THROW(evaluate(task, golds, extra), Error);
  EXPECT_THROW(evaluate(task, golds, duplicated), Error);
  const auto ok = evaluate(task, golds, lamp::OutputSet{"LaMP_3", {{"2", "4"}, {"1", "3"}}});
  EXPECT_DOUBLE_EQ(ok.at("mae"), 1.0);
}

// Rebuilds the real-text pairs named by a golden set from the shared data.
void check_real_rouge_set(const json& set) {
  const std::string folder = set["folder"];
  const auto questions_path = testing::shared_file("data/" + folder + "/dev_questions.json");
  const auto outputs_path = testing::shared_file("data/" + folder + "/dev_outputs.json");
  if (!questions_path || !outputs_path) GTEST_SKIP() << "needs ../shared/data/" << folder;
  const auto questions = lamp::load_questions(*questions_path, lamp::TaskId::kLamp5);
  const lamp::OutputSet golds = lamp::load_outputs(*outputs_path);
  ASSERT_EQ(questions.size(), set["ids"].size());
  std::unordered_map<std::string, std::string> gold_by_id(golds.items.begin(), golds.items.end());
  lamp::OutputSet gold_set{"LaMP_5", {}};
  lamp::OutputSet prediction_set{"LaMP_5", {}};
  const std::string rule = set["rule"];
  for (std::size_t i = 0; i < questions.size(); ++i) {
    const lamp::Question& q = questions[i];
    ASSERT_EQ(q.id, set["ids"][i].get<std::string>());
    std::string prediction;
    std::string reference;
    if (rule == "first_title_vs_gold") {
      prediction = q.profile.empty() ? "" : q.profile[0].at("title");
      reference = gold_by_id.at(q.id);
    } else {
      ASSERT_EQ(rule, "first_abstract_vs_query");
      prediction = q.profile.empty() ? "" : q.profile[0].at("abstract");
      ASSERT_TRUE(lamp::extract_after(q.input, "paper:", reference));
    }
    const auto target = rouge_tokenize(lamp::strip(reference));
    const auto tokens = rouge_tokenize(lamp::strip(prediction));
    EXPECT_NEAR(rouge_n(target, tokens, 1).fmeasure, set["rouge1"][i].get<double>(), kTolerance) << q.id;
    EXPECT_NEAR(rouge_l(target, tokens).fmeasure, set["rougeL"][i].get<double>(), kTolerance) << q.id;
    gold_set.items.emplace_back(q.id, reference);
    prediction_set.items.emplace_back(q.id, prediction);
  }
  const auto result = evaluate(lamp::task_info(lamp::TaskId::kLamp5), gold_set, prediction_set);
  EXPECT_NEAR(result.at("rouge-1"), set["means"]["rouge-1"].get<double>(), kTolerance);
  EXPECT_NEAR(result.at("rouge-L"), set["means"]["rouge-L"].get<double>(), kTolerance);
}

TEST(Rouge, RealTitlesMatchRougeScore) {
  const json golden = read_json(testing::test_data("metrics/rouge_real.json"));
  check_real_rouge_set(golden["sets"][0]);
}

TEST(Rouge, RealAbstractsMatchRougeScore) {
  const json golden = read_json(testing::test_data("metrics/rouge_real.json"));
  check_real_rouge_set(golden["sets"][1]);
}

TEST(Rating, RealLamp3MatchesOfficial) {
  const json golden = read_json(testing::test_data("metrics/lamp3_real.json"));
  const auto questions_path = testing::shared_file("data/lamp3-amazon-mi/dev_questions.json");
  const auto outputs_path = testing::shared_file("data/lamp3-amazon-mi/dev_outputs.json");
  if (!questions_path || !outputs_path) GTEST_SKIP() << "needs ../shared/data/lamp3-amazon-mi";
  const auto questions = lamp::load_questions(*questions_path, lamp::TaskId::kLamp3);
  const lamp::OutputSet golds = lamp::load_outputs(*outputs_path);
  lamp::OutputSet predictions{"LaMP_3", {}};
  for (const auto& q : questions) {
    predictions.items.emplace_back(q.id, q.profile.empty() ? "" : q.profile[0].at("score"));
  }
  const auto& task = lamp::task_info(lamp::TaskId::kLamp3);
  const auto rating = evaluate(task, golds, predictions);
  EXPECT_NEAR(rating.at("mae"), golden["rating"]["mae"].get<double>(), kTolerance);
  EXPECT_NEAR(rating.at("rmse"), golden["rating"]["rmse"].get<double>(), kTolerance);

  std::vector<std::string> prediction_texts;
  std::vector<std::string> gold_texts;
  std::unordered_map<std::string, std::string> by_id(predictions.items.begin(), predictions.items.end());
  for (const auto& [id, output] : golds.items) {
    gold_texts.push_back(output);
    prediction_texts.push_back(by_id.at(id));
  }
  const ClassificationScores scores = classification_scores(prediction_texts, gold_texts, task.labels);
  EXPECT_NEAR(scores.accuracy, golden["classification"]["accuracy"].get<double>(), kTolerance);
  EXPECT_NEAR(scores.macro_f1, golden["classification"]["f1"].get<double>(), kTolerance);
}

}  // namespace
}  // namespace qrag::metrics
