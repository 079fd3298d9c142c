// End-to-end tests of `qrag score`: runs the built binary (path in QRAG_BINARY) on small files.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/run_qrag.h"
#include "common/test_paths.h"

namespace {

using ::testing::HasSubstr;
using qrag::testing::CommandResult;
using qrag::testing::read_text;
using qrag::testing::run_qrag;

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

class ScoreCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY is not set";
    dir_ = qrag::testing::make_temp_dir();
  }
  std::filesystem::path dir_;
};

TEST_F(ScoreCommand, Lamp3MetricsAndOutFile) {
  const auto golds = qrag::testing::test_data("lamp/lamp3_small_outputs.json");  // q1:5, 2:3, q3:5
  const auto preds = dir_ / "preds.json";
  write_file(preds, R"({"task": "LaMP_3", "golds": [{"id": "2", "output": "1"}, {"id": "q1", "output": "4"},
                        {"id": "q3", "output": "five"}]})");
  const auto metrics = dir_ / "metrics.json";
  const CommandResult r = run_qrag("score --task LaMP_3 --golds '" + golds.string() + "' --preds '" +
                                       preds.string() + "' --out '" + metrics.string() + "'",
                                   dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Errors 2, 1 and 4 ("five" falls back to 1, the end farthest from the gold 5).
  const auto json = nlohmann::json::parse(read_text(metrics));
  EXPECT_DOUBLE_EQ(json["mae"].get<double>(), 7.0 / 3.0);
  EXPECT_DOUBLE_EQ(json["rmse"].get<double>(), std::sqrt(21.0 / 3.0));
  EXPECT_EQ(json["n"].get<int>(), 3);
  EXPECT_EQ(nlohmann::json::parse(r.out), json);
}

TEST_F(ScoreCommand, MismatchedIdsFail) {
  const auto golds = qrag::testing::test_data("lamp/lamp3_small_outputs.json");
  const auto preds = dir_ / "preds.json";
  write_file(preds, R"({"task": "LaMP_3", "golds": [{"id": "q1", "output": "4"}, {"id": "zz", "output": "4"}]})");
  const CommandResult r =
      run_qrag("score --task LaMP_3 --golds '" + golds.string() + "' --preds '" + preds.string() + "'", dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("missing ids"));
  EXPECT_THAT(r.err, HasSubstr("zz"));
}

TEST_F(ScoreCommand, WrongTaskFails) {
  const auto golds = qrag::testing::test_data("lamp/lamp3_small_outputs.json");
  const CommandResult r =
      run_qrag("score --task LaMP_5 --golds '" + golds.string() + "' --preds '" + golds.string() + "'", dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("does not match --task LaMP_5"));
}

TEST_F(ScoreCommand, GenerationMetricNames) {
  const auto golds = dir_ / "golds.json";
  write_file(golds, R"({"task": "LaMP_5", "golds": [{"id": "1", "output": "Deep learning for NLP"}]})");
  const auto preds = dir_ / "preds.json";
  write_file(preds, R"({"task": "LaMP_5", "golds": [{"id": "1", "output": " deep learning "}]})");
  const CommandResult r =
      run_qrag("score --task LaMP_5 --golds '" + golds.string() + "' --preds '" + preds.string() + "'", dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto json = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(json["rouge-1"].get<double>(), 2.0 * 1.0 * 0.5 / 1.5);
  EXPECT_DOUBLE_EQ(json["rouge-L"].get<double>(), 2.0 * 1.0 * 0.5 / 1.5);
}

TEST_F(ScoreCommand, RealGoldsScorePerfectly) {
  const auto golds = qrag::testing::shared_file("data/lamp3-amazon-mi/dev_outputs.json");
  if (!golds) GTEST_SKIP() << "needs ../shared/data/lamp3-amazon-mi";
  const CommandResult r = run_qrag(
      "score --task LaMP_3 --golds '" + golds->string() + "' --preds '" + golds->string() + "'", dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto json = nlohmann::json::parse(r.out);
  EXPECT_EQ(json["mae"].get<double>(), 0.0);
  EXPECT_EQ(json["n"].get<int>(), 711);
}

}  // namespace
