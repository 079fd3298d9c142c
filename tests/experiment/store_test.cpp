// Tests of the SQLite results store: round trip, schema check, runs and merge.
#include "experiment/store.h"

#include <sqlite3.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/test_paths.h"
#include "core/error.h"
#include "fake_backend.h"

namespace qrag::experiment {
namespace {

using ::testing::HasSubstr;

ResultRow sample_row(const std::string& question) {
  ResultRow row = fake::make_row(fake::make_cell("q4_0", 3), question, "4", "5",
                                 {{"abs_error", 1.0}, {"squared_error", 1.0}, {"correct", 0.0}});
  const std::vector<float> logits = {0.1f, 2.0f, -1.0f, 0.7f};
  row.first_step = make_topk_record(logits, 3);
  row.truncated = true;
  row.cell.k = KValue{true, 0};
  row.cell.order = DocumentOrder::kShuffled;
  row.cell.seed = 9;
  return row;
}

void expect_same_row(const ResultRow& a, const ResultRow& b) {
  EXPECT_TRUE(a.same_content(b));
  EXPECT_EQ(a.run_id, b.run_id);
  EXPECT_EQ(a.ttft_ms, b.ttft_ms);
  EXPECT_EQ(a.prefill_tokens_per_s, b.prefill_tokens_per_s);
  EXPECT_EQ(a.decode_tokens_per_s, b.decode_tokens_per_s);
  EXPECT_EQ(a.peak_memory_bytes, b.peak_memory_bytes);
  EXPECT_EQ(a.kv_cache_bytes, b.kv_cache_bytes);
}

TEST(Store, RoundTrip) {
  const auto path = testing::make_temp_dir() / kStoreFileName;
  ResultStore store = ResultStore::open(path);
  const ResultRow row = sample_row("q1");
  EXPECT_FALSE(store.has(row.key));
  EXPECT_EQ(store.put(row), 1u);
  EXPECT_TRUE(store.has(row.key));
  const std::optional<ResultRow> back = store.get(row.key);
  ASSERT_TRUE(back.has_value());
  expect_same_row(*back, row);
  EXPECT_EQ(back->cell.k.to_string(), "max");
  EXPECT_EQ(back->cell.order, DocumentOrder::kShuffled);
  EXPECT_EQ(back->first_step, row.first_step);
  EXPECT_TRUE(back->truncated);
  const std::optional<ResultRow> by_generation = store.find_generation(row.generation_key);
  ASSERT_TRUE(by_generation.has_value());
  EXPECT_EQ(by_generation->key, row.key);
}

TEST(Store, DuplicatePutIgnored) {
  const auto path = testing::make_temp_dir() / kStoreFileName;
  ResultStore store = ResultStore::open(path);
  ResultRow row = sample_row("q1");
  EXPECT_EQ(store.put(row), 1u);
  row.raw_output = "changed";
  EXPECT_EQ(store.put(row), 0u);
  EXPECT_EQ(store.get(row.key)->raw_output, "4");
  EXPECT_EQ(store.row_count(), 1u);
}

TEST(Store, PersistsAcrossReopen) {
  const auto path = testing::make_temp_dir() / kStoreFileName;
  {
    ResultStore store = ResultStore::open(path);
    const ResultRow rows[] = {sample_row("q1"), sample_row("q2")};
    EXPECT_EQ(store.put_batch(rows), 2u);
  }
  const ResultStore store = ResultStore::open(path, ResultStore::Mode::kReadOnly);
  EXPECT_EQ(store.row_count(), 2u);
  const std::vector<ResultRow> rows = store.rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_LT(rows[0].key, rows[1].key);
}

TEST(Store, RunsRecorded) {
  const auto path = testing::make_temp_dir() / kStoreFileName;
  ResultStore store = ResultStore::open(path);
  const std::vector<std::uint64_t> seeds = {1, 2};
  const RunInfo info = describe_this_run(4, seeds, "exp.toml", "qrag run exp.toml");
  EXPECT_EQ(info.seeds, "1,2");
  EXPECT_FALSE(info.qrag_version.empty());
  const std::int64_t first = store.begin_run(info);
  const std::int64_t second = store.begin_run(info);
  EXPECT_NE(first, second);
  const std::vector<RunInfo> runs = store.runs();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].run_id, first);
  EXPECT_EQ(runs[0].threads, 4);
  EXPECT_EQ(runs[0].command, "qrag run exp.toml");
  EXPECT_EQ(runs[0].cpu_model, info.cpu_model);
}

TEST(Store, WrongSchemaVersionRejected) {
  const auto path = testing::make_temp_dir() / kStoreFileName;
  { ResultStore::open(path); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value = '99' WHERE key = 'schema_version'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  try {
    ResultStore::open(path);
    FAIL() << "expected a schema error";
  } catch (const Error& error) {
    EXPECT_THAT(error.message(), HasSubstr("schema version 99"));
    EXPECT_THAT(error.message(), HasSubstr(path.string()));
  }
}

TEST(Store, ForeignDatabaseRejected) {
  const auto path = testing::make_temp_dir() / "other.sqlite";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_THROW(ResultStore::open(path), Error);
  EXPECT_THROW(ResultStore::open(path.parent_path() / "missing.sqlite", ResultStore::Mode::kReadOnly), Error);
}

TEST(Store, MergeDeduplicatesAndReportsConflicts) {
  const auto dir = testing::make_temp_dir();
  const ResultRow shared = sample_row("q1");
  ResultRow conflicting = sample_row("q2");
  {
    ResultStore a = ResultStore::open(dir / "a.sqlite");
    a.begin_run(describe_this_run(1, {}, "a.toml", "a"));
    const ResultRow rows[] = {shared, conflicting, sample_row("q3")};
    a.put_batch(rows);
  }
  {
    ResultStore b = ResultStore::open(dir / "b.sqlite");
    b.begin_run(describe_this_run(1, {}, "b.toml", "b"));
    ResultRow shared_again = shared;
    shared_again.ttft_ms = 99.0;  // timings may differ between shards
    conflicting.prediction = "1";
    const ResultRow rows[] = {shared_again, conflicting, sample_row("q4")};
    b.put_batch(rows);
  }
  const std::vector<std::filesystem::path> inputs = {dir / "a.sqlite", dir / "b.sqlite"};
  const MergeReport report = merge_stores(dir / "out.sqlite", inputs);
  EXPECT_EQ(report.inserted, 4u);
  EXPECT_EQ(report.duplicates, 1u);
  ASSERT_EQ(report.conflicts.size(), 1u);
  EXPECT_THAT(report.conflicts[0], HasSubstr(conflicting.key));
  EXPECT_THAT(report.conflicts[0], HasSubstr("b.sqlite"));
  const ResultStore out = ResultStore::open(dir / "out.sqlite", ResultStore::Mode::kReadOnly);
  EXPECT_EQ(out.row_count(), 4u);
  EXPECT_EQ(out.runs().size(), 2u);
  EXPECT_EQ(out.get(conflicting.key)->prediction, "4");
}

}  // namespace
}  // namespace qrag::experiment
