// Tests of run_grid with a fake backend: resume after interruption, reuse and hooks.
#include "experiment/runner.h"

#include <sstream>

#include <fmt/core.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/test_paths.h"
#include "core/error.h"
#include "fake_backend.h"

namespace qrag::experiment {
namespace {

// Two precisions x two retrievers x k in {0, 2}: at k = 0 both retrievers give the same
// prompt, so those rows share generation keys.
std::vector<CellWork> make_work() {
  std::vector<CellWork> work;
  for (const char* precision : {"stored", "q4_0"}) {
    for (const char* retriever : {"bm25", "recency"}) {
      for (int k : {0, 2}) {
        CellWork cell{fake::make_cell(precision, k, 3, retriever), "auto", {}};
        for (int q = 0; q < 5; ++q) {
          PreparedPrompt prompt;
          prompt.question_id = fmt::format("q{}", q);
          prompt.prompt = "question " + std::to_string(q);
          if (k > 0) {
            prompt.prompt.append(" docs from ").append(retriever);
            prompt.doc_ids = {"d1", "d2"};
          }
          prompt.gold = std::to_string(1 + q % 5);
          cell.prompts.push_back(prompt);
        }
        work.push_back(cell);
      }
    }
  }
  return work;
}

RunOptions make_options() {
  RunOptions options;
  options.qrag_version = "test";
  options.parse = [](const Cell&, std::string_view raw) { return std::string(raw); };
  options.score = [](const Cell&, std::string_view prediction, std::string_view gold) {
    const double error = std::stod(std::string(prediction)) - std::stod(std::string(gold));
    return std::map<std::string, double>{
        {"abs_error", std::fabs(error)}, {"squared_error", error * error}, {"correct", error == 0 ? 1.0 : 0.0}};
  };
  return options;
}

TEST(Runner, FullRunWritesEveryRow) {
  const auto path = testing::make_temp_dir() / kStoreFileName;
  ResultStore store = ResultStore::open(path);
  fake::FakeProvider provider;
  const std::vector<CellWork> work = make_work();
  const RunSummary summary = run_grid(store, work, provider, make_options());
  EXPECT_EQ(store.row_count(), 40u);
  // k = 0 rows of the second retriever reuse the first retriever's generation.
  EXPECT_EQ(summary.computed, 30u);
  EXPECT_EQ(summary.reused, 10u);
  EXPECT_EQ(provider.total_calls(), 30);
  EXPECT_FALSE(summary.stopped_early);
  for (const ResultRow& row : store.rows()) {
    EXPECT_EQ(row.scores.size(), 3u);
    EXPECT_FALSE(row.first_step.empty());
  }
}

TEST(Runner, ResumeEqualsUninterruptedRun) {
  const auto dir = testing::make_temp_dir();
  const std::vector<CellWork> work = make_work();
  {
    ResultStore store = ResultStore::open(dir / "full.sqlite");
    fake::FakeProvider provider;
    run_grid(store, work, provider, make_options());
  }
  RunOptions interrupted = make_options();
  interrupted.max_new_rows = 13;
  {
    ResultStore store = ResultStore::open(dir / "resumed.sqlite");
    fake::FakeProvider provider;
    const RunSummary first = run_grid(store, work, provider, interrupted);
    EXPECT_TRUE(first.stopped_early);
    EXPECT_EQ(store.row_count(), 13u);
  }
  {
    ResultStore store = ResultStore::open(dir / "resumed.sqlite");
    fake::FakeProvider provider;
    const RunSummary second = run_grid(store, work, provider, interrupted);
    EXPECT_EQ(second.skipped, 13u);
    EXPECT_EQ(store.row_count(), 26u);
    const RunSummary third = run_grid(store, work, provider, make_options());
    EXPECT_EQ(third.skipped, 26u);
    EXPECT_EQ(third.computed + third.reused, 14u);
  }
  const std::vector<ResultRow> full = ResultStore::open(dir / "full.sqlite").rows();
  const std::vector<ResultRow> resumed = ResultStore::open(dir / "resumed.sqlite").rows();
  ASSERT_EQ(full.size(), resumed.size());
  for (std::size_t i = 0; i < full.size(); ++i) {
    EXPECT_TRUE(full[i].same_content(resumed[i])) << full[i].key;
    EXPECT_EQ(full[i].ttft_ms, resumed[i].ttft_ms);
  }
}

TEST(Runner, CompleteStoreSkipsEverything) {
  const auto path = testing::make_temp_dir() / kStoreFileName;
  ResultStore store = ResultStore::open(path);
  const std::vector<CellWork> work = make_work();
  fake::FakeProvider provider;
  EXPECT_EQ(count_missing_rows(store, work, provider, make_options()), 40u);
  run_grid(store, work, provider, make_options());
  EXPECT_EQ(count_missing_rows(store, work, provider, make_options()), 0u);
  fake::FakeProvider fresh;
  const RunSummary again = run_grid(store, work, fresh, make_options());
  EXPECT_EQ(again.skipped, 40u);
  EXPECT_EQ(fresh.total_calls(), 0);
}

TEST(Runner, ChangedDecodingMakesNewRows) {
  const auto path = testing::make_temp_dir() / kStoreFileName;
  ResultStore store = ResultStore::open(path);
  const std::vector<CellWork> work = make_work();
  fake::FakeProvider provider;
  run_grid(store, work, provider, make_options());
  RunOptions changed = make_options();
  changed.decoding.max_new_tokens = 8;
  const RunSummary summary = run_grid(store, work, provider, changed);
  EXPECT_EQ(summary.skipped, 0u);
  EXPECT_EQ(store.row_count(), 80u);
}

TEST(Runner, BackendErrorNamesCellAndKeepsRows) {
  class FailingProvider : public fake::FakeProvider {
   public:
    CellBackend& backend(const std::string& model, const std::string& precision) override {
      if (precision == "q4_0") throw Error("prompt does not fit");
      return fake::FakeProvider::backend(model, precision);
    }
  };
  const auto path = testing::make_temp_dir() / kStoreFileName;
  ResultStore store = ResultStore::open(path);
  FailingProvider provider;
  try {
    run_grid(store, make_work(), provider, make_options());
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_THAT(error.message(), ::testing::HasSubstr("q4_0"));
    EXPECT_THAT(error.message(), ::testing::HasSubstr("question 'q0'"));
    EXPECT_THAT(error.message(), ::testing::HasSubstr("prompt does not fit"));
  }
  EXPECT_EQ(store.row_count(), 20u);
}

TEST(Runner, ReportsProgress) {
  const auto path = testing::make_temp_dir() / kStoreFileName;
  ResultStore store = ResultStore::open(path);
  std::ostringstream out;
  ProgressReporter progress(out, 40, 0, ProgressReporter::Options{false, {}, std::chrono::seconds(0), {}});
  RunOptions options = make_options();
  options.progress = &progress;
  fake::FakeProvider provider;
  run_grid(store, make_work(), provider, options);
  progress.finish();
  EXPECT_THAT(out.str(), ::testing::HasSubstr("done: 40/40 (100.0%)"));
}

}  // namespace
}  // namespace qrag::experiment

namespace qrag::experiment {
namespace {

// Records the (precision, prompt) of every generate() call, in call order.
class RecordingProvider : public BackendProvider {
 public:
  struct Call {
    std::string precision;
    std::string prompt;
  };

  class Backend : public fake::FakeBackend {
   public:
    Backend(std::string precision, std::vector<Call>& calls)
        : FakeBackend(precision), precision_(std::move(precision)), calls_(&calls) {}
    GenerationResult generate(const GenerationRequest& request) override {
      calls_->push_back({precision_, request.prompt});
      return FakeBackend::generate(request);
    }

   private:
    std::string precision_;
    std::vector<Call>* calls_;
  };

  std::string model_hash(const std::string& model, const std::string& precision) override {
    return xxh3_128_hex(model + "/" + precision);
  }
  CellBackend& backend(const std::string& model, const std::string& precision) override {
    auto [it, inserted] = backends_.try_emplace(model + "/" + precision, precision, calls);
    return it->second;
  }

  std::vector<Call> calls;

 private:
  std::map<std::string, Backend> backends_;
};

TEST(RunnerOrder, GroupsByPrecisionThenQuestion) {
  const auto path = testing::make_temp_dir() / kStoreFileName;
  ResultStore store = ResultStore::open(path);
  RecordingProvider provider;
  run_grid(store, make_work(), provider, make_options());
  ASSERT_EQ(provider.calls.size(), 30u);

  // All calls of the first precision come before any of the second, so a provider that
  // keeps one model in memory loads each once.
  const auto first_q4 = std::find_if(provider.calls.begin(), provider.calls.end(),
                                     [](const auto& call) { return call.precision == "q4_0"; });
  EXPECT_TRUE(std::all_of(first_q4, provider.calls.end(), [](const auto& call) { return call.precision == "q4_0"; }));

  // Within a precision, prompts run question by question, longest text first, so
  // "question 0 docs from recency" precedes "question 0 docs from bm25" and "question 0",
  // and question 1 starts only after question 0 is done.
  const std::vector<std::string> expected = {"question 0 docs from recency", "question 0 docs from bm25", "question 0",
                                             "question 1 docs from recency"};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(provider.calls[i].prompt, expected[i]) << "call " << i;
  }
}

}  // namespace
}  // namespace qrag::experiment
