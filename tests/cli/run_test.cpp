// End-to-end tests of `qrag run` on the tiny llama fixture: full runs, resume after SIGKILL, shards, dry runs.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/run_qrag.h"
#include "common/test_paths.h"
#include "experiment/store.h"

namespace qrag {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using experiment::ResultRow;
using experiment::ResultStore;

// The tiny grid: 1 dataset of 3 questions x 3 precisions x 2 retrievers x 4 k x 2 orders.
constexpr std::size_t kTinyRows = 3 * 3 * 2 * 4 * 2;

class RunCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY is not set";
    dir_ = testing::make_temp_dir();
    config_ = testing::test_data("experiment/tiny-run.toml");
    // Quantized files are shared by the runs of one test, as a user's --cache-dir would be.
    cache_ = dir_ / "models";
  }

  testing::CommandResult run(const std::string& out, const std::string& extra = "", const std::string& env = "") {
    const std::string args = fmt::format("run '{}' --out '{}' --cache-dir '{}' -t 1 {}", config_.string(),
                                         (dir_ / out).string(), cache_.string(), extra);
    if (env.empty()) return testing::run_qrag(args, dir_);
    return testing::run_qrag_with_env(env, args, dir_);
  }

  std::map<std::string, ResultRow> rows_of(const std::string& out) const {
    const ResultStore store = ResultStore::open(dir_ / out / experiment::kStoreFileName, ResultStore::Mode::kReadOnly);
    std::map<std::string, ResultRow> rows;
    for (ResultRow& row : store.rows()) rows.emplace(row.key, std::move(row));
    return rows;
  }

  fs::path dir_;
  fs::path config_;
  fs::path cache_;
};

TEST_F(RunCommand, FullRunWritesStoreAndReport) {
  const auto result = run("full");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(rows_of("full").size(), kTinyRows);
  EXPECT_TRUE(fs::exists(dir_ / "full/report/report.html"));
  EXPECT_TRUE(fs::exists(dir_ / "full/report/report.md"));
  EXPECT_THAT(result.out, HasSubstr("report: "));
  EXPECT_THAT(result.err, HasSubstr("reused from the KV cache"));

  // Each report cell's question count and MAE equal what the store holds for that cell.
  std::map<std::string, std::vector<double>> errors;  // cell id -> abs_error per question
  for (const auto& [key, row] : rows_of("full")) errors[row.cell.id()].push_back(row.scores.at("abs_error"));
  const auto report = nlohmann::json::parse(testing::read_text(dir_ / "full/report/report.json"));
  ASSERT_EQ(report.at("cells").size(), errors.size());
  for (const auto& cell : report.at("cells")) {
    const std::string id = cell.at("cell").at("id").get<std::string>();
    const std::vector<double>& values = errors.at(id);
    double sum = 0.0;
    for (const double value : values) sum += value;
    EXPECT_EQ(cell.at("questions").get<std::size_t>(), values.size()) << id;
    EXPECT_DOUBLE_EQ(cell.at("metrics").at("mae").at("estimate").get<double>(), sum / values.size()) << id;
  }
}

TEST_F(RunCommand, RerunSkipsStoredRows) {
  ASSERT_EQ(run("again").exit_code, 0);
  const auto second = run("again", "--no-report");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.out, HasSubstr(fmt::format("0 rows computed, 0 copied, {} already stored", kTinyRows)));
}

TEST_F(RunCommand, ResumeAfterKillEqualsUninterruptedRun) {
  ASSERT_EQ(run("reference", "--no-report").exit_code, 0);

  const auto killed = run("resumed", "--no-report", "QRAG_KILL_AFTER_ROWS=37");
  EXPECT_NE(killed.exit_code, 0) << "the run was expected to die by SIGKILL";
  const std::size_t partial = rows_of("resumed").size();
  EXPECT_EQ(partial, 37u);

  const auto resumed = run("resumed");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_THAT(resumed.out, HasSubstr("37 already stored"));

  const auto expected = rows_of("reference");
  const auto actual = rows_of("resumed");
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [key, row] : expected) {
    const auto found = actual.find(key);
    ASSERT_NE(found, actual.end()) << "row " << key << " (" << row.cell.id() << ") is missing after resume";
    EXPECT_TRUE(row.same_content(found->second)) << "row " << key << " of cell " << row.cell.id() << " differs";
  }
}

TEST_F(RunCommand, BatchedEqualsOneAtATime) {
  ASSERT_EQ(run("batched", "--no-report --parallel 3").exit_code, 0);
  // The baseline: every prompt computed on its own, equal generations included.
  const auto independent = run("serial", "--no-report --parallel 1 --no-prefix-reuse --no-copy");
  ASSERT_EQ(independent.exit_code, 0) << independent.err;
  EXPECT_THAT(independent.out, HasSubstr(fmt::format("{} rows computed, 0 copied", kTinyRows)));
  const auto batched = rows_of("batched");
  const auto serial = rows_of("serial");
  ASSERT_EQ(batched.size(), kTinyRows);
  ASSERT_EQ(serial.size(), kTinyRows);
  for (const auto& [key, row] : serial) {
    const auto found = batched.find(key);
    ASSERT_NE(found, batched.end()) << "row " << key << " (" << row.cell.id() << ") is missing";
    EXPECT_TRUE(row.same_content(found->second)) << "row " << key << " of cell " << row.cell.id() << " differs";
  }
}

TEST_F(RunCommand, ShardsMergeToFullGrid) {
  ASSERT_EQ(run("shard1", "--no-report --shard 1/2").exit_code, 0);
  ASSERT_EQ(run("shard2", "--no-report --shard 2/2").exit_code, 0);
  const std::size_t first = rows_of("shard1").size();
  const std::size_t second = rows_of("shard2").size();
  EXPECT_GT(first, 0u);
  EXPECT_GT(second, 0u);
  EXPECT_EQ(first + second, kTinyRows);

  const auto merged = testing::run_qrag(
      fmt::format("merge '{}' '{}' '{}'", (dir_ / "merged.sqlite").string(),
                  (dir_ / "shard1" / experiment::kStoreFileName).string(),
                  (dir_ / "shard2" / experiment::kStoreFileName).string()),
      dir_);
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  const ResultStore store = ResultStore::open(dir_ / "merged.sqlite", ResultStore::Mode::kReadOnly);
  EXPECT_EQ(store.row_count(), kTinyRows);
}

TEST_F(RunCommand, DryRunPrintsPlanWithoutStore) {
  const auto result = run("dry", "--dry-run");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("estimated prompt tokens per cell"));
  EXPECT_THAT(result.out, HasSubstr(fmt::format("total: {} generations", kTinyRows)));
  EXPECT_THAT(result.out, HasSubstr("estimated duration"));
  EXPECT_FALSE(fs::exists(dir_ / "dry" / experiment::kStoreFileName));
}

TEST_F(RunCommand, MissingModelNamesPath) {
  const fs::path config = dir_ / "bad.toml";
  std::string text = testing::read_text(config_);
  const std::string from = "../gguf/tiny-llama.gguf";
  text.replace(text.find(from), from.size(), "no-such-model.gguf");
  for (const char* relative : {"../lamp/lamp3_small_questions.json", "../lamp/lamp3_small_outputs.json"}) {
    const std::string absolute = (config_.parent_path() / relative).lexically_normal().string();
    text.replace(text.find(relative), std::string(relative).size(), absolute);
  }
  std::ofstream(config) << text;
  const auto result = testing::run_qrag(fmt::format("run '{}' --out '{}'", config.string(), (dir_ / "bad").string()),
                                        dir_);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("no-such-model.gguf"));
}

// A reduced grid on the real LaMP-format sets with the real SmolLM2 model: 5 questions per
// task, the shipped Q4_1 file against its q4_0 requantization, BM25, k in {0, 3}.
TEST(RunShared, SmolLM2ReducedGridOnRealData) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "a 135M-parameter model is too slow under AddressSanitizer; the release build runs this test";
#endif
  if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY is not set";
  const auto lamp3 = testing::shared_file("data/lamp3-amazon-mi/dev_questions.json");
  const auto lamp5 = testing::shared_file("data/lamp5-acl/dev_questions.json");
  if (!lamp3 || !lamp5) GTEST_SKIP() << "the shared LaMP-format data is absent";
  const fs::path model = testing::source_dir() / "models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!fs::exists(model)) GTEST_SKIP() << "run scripts/setup.sh to install " << model.string();

  const fs::path dir = testing::make_temp_dir();
  const fs::path config = dir / "shared.toml";
  std::ofstream(config) << fmt::format(R"([experiment]
retrievers = ["bm25:okapi"]
k = [0, 3]
prompt_style = "yazan2024"
max_prompt_tokens = 2048

[decoding]
max_new_tokens = 8

[[datasets]]
name = "lamp3"
task = 3
questions = "{}"
outputs = "{}"

[[datasets]]
name = "lamp5"
task = 5
questions = "{}"
outputs = "{}"

[[models]]
name = "smollm2"
base = "{}"
precisions = ["stored", "q4_0"]
)", lamp3->string(), (lamp3->parent_path() / "dev_outputs.json").string(), lamp5->string(),
                                     (lamp5->parent_path() / "dev_outputs.json").string(), model.string());

  const auto result = testing::run_qrag(
      fmt::format("run '{}' --out '{}' --limit 5", config.string(), (dir / "run").string()), dir);
  ASSERT_EQ(result.exit_code, 0) << result.err;

  // 2 datasets x 2 precisions x 2 k x 5 questions, every row scored.
  const ResultStore store = ResultStore::open(dir / "run" / experiment::kStoreFileName, ResultStore::Mode::kReadOnly);
  const std::vector<ResultRow> rows = store.rows();
  ASSERT_EQ(rows.size(), 40u);
  std::map<std::string, std::vector<double>> per_cell;  // cell id -> abs_error or rouge1
  for (const ResultRow& row : rows) {
    EXPECT_FALSE(row.first_step.empty()) << row.cell.id();
    EXPECT_GT(row.prompt_tokens, 0) << row.cell.id();
    const char* metric = row.cell.task == 3 ? "abs_error" : "rouge1";
    per_cell[row.cell.id()].push_back(row.scores.at(metric));
  }

  // The report's MAE and ROUGE-1 per cell are the means of the stored per-question scores.
  const auto report = nlohmann::json::parse(testing::read_text(dir / "run/report/report.json"));
  ASSERT_EQ(report.at("cells").size(), per_cell.size());
  for (const auto& cell : report.at("cells")) {
    const std::string id = cell.at("cell").at("id").get<std::string>();
    const char* metric = cell.at("cell").at("task").get<int>() == 3 ? "mae" : "rouge1";
    const std::vector<double>& values = per_cell.at(id);
    double sum = 0.0;
    for (const double value : values) sum += value;
    EXPECT_DOUBLE_EQ(cell.at("metrics").at(metric).at("estimate").get<double>(), sum / values.size()) << id;
  }
  EXPECT_FALSE(report.at("pairs").empty());
}

}  // namespace
}  // namespace qrag
