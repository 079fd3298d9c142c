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

}  // namespace
}  // namespace qrag
