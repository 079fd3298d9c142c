// End-to-end tests of `qrag report` and `qrag merge` on stores written through the store API.
#include <cmath>
#include <filesystem>

#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/run_qrag.h"
#include "common/test_paths.h"
#include "experiment/key.h"
#include "experiment/store.h"

namespace qrag {
namespace {

using ::testing::HasSubstr;
using testing::CommandResult;
using testing::read_text;
using testing::run_qrag;

// A store with `questions` LaMP-3 rows for each of two precisions at k = 1.
void write_store(const std::filesystem::path& path, int first_question, int questions, const std::string& tag) {
  experiment::ResultStore store = experiment::ResultStore::open(path);
  const std::int64_t run = store.begin_run(experiment::describe_this_run(1, {}, "exp.toml", "test " + tag));
  std::vector<experiment::ResultRow> rows;
  for (const char* precision : {"f16", "q4_0"}) {
    experiment::Cell cell;
    cell.dataset = "lamp3";
    cell.task = 3;
    cell.model = "m";
    cell.precision = precision;
    cell.retriever = "bm25:okapi";
    cell.k = experiment::KValue{false, 1};
    for (int q = first_question; q < first_question + questions; ++q) {
      experiment::ResultRow row;
      row.question_id = fmt::format("q{}", q);
      row.cell = cell;
      row.key = experiment::xxh3_128_hex(cell.id() + row.question_id);
      row.generation_key = row.key;
      row.run_id = run;
      const int gold = 1 + q % 5;
      const int prediction = precision[0] == 'q' ? 1 + (q + 1) % 5 : gold;
      row.raw_output = std::to_string(prediction);
      row.prediction = row.raw_output;
      row.gold = std::to_string(gold);
      const double error = prediction - gold;
      row.scores = {{"abs_error", std::fabs(error)}, {"squared_error", error * error}, {"correct", error == 0}};
      row.prompt_tokens = 80;
      row.ttft_ms = precision[0] == 'q' ? 6 : 9;
      rows.push_back(row);
    }
  }
  store.put_batch(rows);
}

TEST(CliReport, WritesConsistentReport) {
  const std::filesystem::path dir = testing::make_temp_dir();
  write_store(dir / experiment::kStoreFileName, 0, 10, "a");
  const CommandResult result = run_qrag(fmt::format("report '{}' --resamples 200", dir.string()), dir);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("report.html"));

  const nlohmann::json json = nlohmann::json::parse(read_text(dir / "report" / "report.json"));
  EXPECT_EQ(json["rows"], 20);
  EXPECT_EQ(json["options"]["bootstrap_resamples"], 200);
  ASSERT_EQ(json["cells"].size(), 2u);
  EXPECT_EQ(json["cells"][0]["cell"]["precision"], "f16");
  EXPECT_DOUBLE_EQ(json["cells"][0]["metrics"]["mae"]["estimate"].get<double>(), 0.0);
  // q4_0 predicts gold + 1 wrapped at 5: error 1 for golds 1..4 and 4 for gold 5.
  EXPECT_DOUBLE_EQ(json["cells"][1]["metrics"]["mae"]["estimate"].get<double>(), (4 * 1 + 4) * 2 / 10.0);
  ASSERT_EQ(json["pairs"].size(), 1u);
  EXPECT_EQ(json["pairs"][0]["right_to_wrong"], 10);
  EXPECT_EQ(json["pairs"][0]["wrong_to_right"], 0);
  const std::string html = read_text(dir / "report" / "report.html");
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_THAT(html, HasSubstr("<svg "));
}

TEST(CliReport, MissingRunDirFails) {
  const std::filesystem::path dir = testing::make_temp_dir();
  const CommandResult result = run_qrag(fmt::format("report '{}'", (dir / "none").string()), dir);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("not found"));
}

TEST(CliMerge, CombinesShards) {
  const std::filesystem::path dir = testing::make_temp_dir();
  write_store(dir / "a.sqlite", 0, 6, "a");
  write_store(dir / "b.sqlite", 4, 6, "b");  // questions 4 and 5 overlap
  const CommandResult result =
      run_qrag(fmt::format("merge '{}' '{}' '{}'", (dir / "all.sqlite").string(), (dir / "a.sqlite").string(),
                           (dir / "b.sqlite").string()),
               dir);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("20 rows added, 4 identical rows skipped, 0 conflicts"));
  const experiment::ResultStore merged =
      experiment::ResultStore::open(dir / "all.sqlite", experiment::ResultStore::Mode::kReadOnly);
  EXPECT_EQ(merged.row_count(), 20u);
  EXPECT_EQ(merged.runs().size(), 2u);
}

TEST(CliMerge, ConflictsFail) {
  const std::filesystem::path dir = testing::make_temp_dir();
  write_store(dir / "a.sqlite", 0, 3, "a");
  write_store(dir / "b.sqlite", 0, 3, "b");
  {
    experiment::ResultStore b = experiment::ResultStore::open(dir / "c.sqlite");
    experiment::ResultRow row = *experiment::ResultStore::open(dir / "a.sqlite").rows().begin();
    row.raw_output = "different";
    b.put(row);
  }
  const CommandResult result =
      run_qrag(fmt::format("merge '{}' '{}' '{}'", (dir / "all.sqlite").string(), (dir / "a.sqlite").string(),
                           (dir / "c.sqlite").string()),
               dir);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, HasSubstr("1 conflicts"));
  EXPECT_THAT(result.err, HasSubstr("c.sqlite"));
}

}  // namespace
}  // namespace qrag
