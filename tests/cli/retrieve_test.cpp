// End-to-end tests of `qrag retrieve` on the shared LaMP-3 set: runs the built binary (QRAG_BINARY).
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/run_qrag.h"
#include "common/test_paths.h"
#include "lamp/dataset.h"

namespace {

using ::testing::HasSubstr;

using qrag::testing::CommandResult;
using qrag::testing::read_text;
using qrag::testing::run_qrag;

class RetrieveCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY is not set";
    const auto questions = qrag::testing::shared_file("data/lamp3-amazon-mi/dev_questions.json");
    if (!questions) GTEST_SKIP() << "needs ../shared/data/lamp3-amazon-mi";
    data_dir_ = questions->parent_path();
    questions_ = qrag::lamp::load_questions(*questions, qrag::lamp::TaskId::kLamp3, 20);
    dir_ = qrag::testing::make_temp_dir();
  }

  std::filesystem::path data_dir_;
  std::vector<qrag::lamp::Question> questions_;
  std::filesystem::path dir_;
};

TEST_F(RetrieveCommand, WritesTrecRun) {
  const auto run = dir_ / "run.trec";
  const CommandResult r = run_qrag("retrieve --data '" + data_dir_.string() +
                             "' --task LaMP_3 --retriever bm25:okapi --k 5 --limit 20 --out '" + run.string() + "'",
                         dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, std::vector<std::pair<std::string, double>>> by_query;
  std::istringstream lines(read_text(run));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string qid, q0, docid, tag;
    int rank = 0;
    double score = 0;
    ASSERT_TRUE(fields >> qid >> q0 >> docid >> rank >> score >> tag) << line;
    EXPECT_EQ(q0, "Q0");
    EXPECT_THAT(tag, HasSubstr("bm25:okapi"));
    auto& ranked = by_query[qid];
    EXPECT_EQ(rank, static_cast<int>(ranked.size()) + 1) << line;
    ranked.emplace_back(docid, score);
  }
  ASSERT_EQ(by_query.size(), questions_.size());
  for (const auto& q : questions_) {
    const auto it = by_query.find(q.id);
    ASSERT_NE(it, by_query.end()) << q.id;
    EXPECT_EQ(it->second.size(), std::min<std::size_t>(5, q.profile.size())) << q.id;
    std::set<std::string> profile_ids;
    for (const auto& item : q.profile) profile_ids.insert(item.id);
    for (std::size_t i = 0; i < it->second.size(); ++i) {
      EXPECT_TRUE(profile_ids.contains(it->second[i].first)) << q.id << " " << it->second[i].first;
      if (i > 0) {
        EXPECT_LE(it->second[i].second, it->second[i - 1].second) << q.id;
      }
    }
  }
}

TEST_F(RetrieveCommand, WritesJsonLines) {
  const auto run = dir_ / "run.json";
  const CommandResult r = run_qrag("retrieve --questions '" + (data_dir_ / "dev_questions.json").string() +
                             "' --task LaMP-3 --retriever recency --k 3 --limit 4 --out '" + run.string() + "'",
                         dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(read_text(run));
  std::string line;
  std::size_t n = 0;
  while (std::getline(lines, line)) {
    const auto json = nlohmann::json::parse(line);
    ASSERT_LT(n, questions_.size());
    EXPECT_EQ(json["qid"].get<std::string>(), questions_[n].id);
    EXPECT_EQ(json["ranking"].size(), std::min<std::size_t>(3, questions_[n].profile.size()));
    ++n;
  }
  EXPECT_EQ(n, 4u);
}

TEST_F(RetrieveCommand, BadInputsFail) {
  CommandResult r = run_qrag("retrieve --data '" + data_dir_.string() + "' --task LaMP_9", dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("unknown task"));
  r = run_qrag("retrieve --data '" + dir_.string() + "' --task LaMP_3", dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("dev_questions.json"));
  // LaMP-5 needs "title" and "abstract" in every profile item.
  r = run_qrag("retrieve --data '" + data_dir_.string() + "' --task LaMP_5", dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("question 0"));
  EXPECT_THAT(r.err, HasSubstr("\"title\""));
}

}  // namespace
