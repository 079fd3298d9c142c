// End-to-end tests of `qrag retrieve --retriever dense:...` with all-MiniLM-L6-v2 on a small LaMP-3 fixture.
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/run_qrag.h"
#include "common/test_paths.h"
#include "lamp/dataset.h"
#include "lamp/query.h"
#include "lamp/task.h"
#include "retrieval/encoder_registry.h"
#include "retrieval/retriever.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using qrag::testing::CommandResult;
using qrag::testing::read_text;
using qrag::testing::run_qrag;

// One line of a TREC run: qid Q0 docid rank score tag.
struct TrecLine {
  std::string qid;
  std::string q0;
  std::string doc_id;
  int rank = 0;
  double score = 0.0;
  std::string tag;
};

// Parses every line. A line without exactly six fields fails the test.
std::vector<TrecLine> parse_trec(const std::string& text) {
  std::vector<TrecLine> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    TrecLine parsed;
    std::string score;
    std::string extra;
    EXPECT_TRUE(fields >> parsed.qid >> parsed.q0 >> parsed.doc_id >> parsed.rank >> score >> parsed.tag) << line;
    EXPECT_FALSE(fields >> extra) << "more than six fields: " << line;
    parsed.score = std::strtod(score.c_str(), nullptr);  // written with 17 significant digits: exact
    lines.push_back(parsed);
  }
  return lines;
}

class RetrieveDense : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path hf_dir = qrag::testing::source_dir() / "models" / "all-MiniLM-L6-v2";
    if (std::getenv("QRAG_BINARY") == nullptr || !fs::exists(hf_dir / "model.safetensors")) return;
    const fs::path dir = qrag::testing::make_temp_dir();
    const fs::path model = dir / "minilm.gguf";
    const CommandResult r = run_qrag("convert '" + hf_dir.string() + "' '" + model.string() + "'", dir);
    if (r.exit_code != 0) {
      convert_error_ = new std::string(r.err);
      return;
    }
    model_ = new fs::path(model);
  }
  static void TearDownTestSuite() {
    if (model_ != nullptr) fs::remove_all(model_->parent_path());
    delete model_;
    delete convert_error_;
    model_ = nullptr;
    convert_error_ = nullptr;
  }

  void SetUp() override {
    if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY is not set";
    ASSERT_EQ(convert_error_, nullptr) << "qrag convert failed: " << *convert_error_;
    if (model_ == nullptr) GTEST_SKIP() << "needs models/all-MiniLM-L6-v2 (scripts/setup.sh installs it)";
    dir_ = qrag::testing::make_temp_dir();
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // `qrag retrieve` over the fixture with `extra` options; returns the run file's text.
  std::string retrieve(const std::string& extra, CommandResult* result = nullptr) {
    const fs::path run = dir_ / "run.trec";
    const CommandResult r = run_qrag("retrieve --questions '" + fixture().string() + "' --task LaMP_3 -t 2 --out '" +
                                         run.string() + "' " + extra,
                                     dir_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (result != nullptr) *result = r;
    return read_text(run);
  }

  static fs::path fixture() { return qrag::testing::test_data("retrieval/dense_profiles.json"); }

  static fs::path* model_;
  static std::string* convert_error_;
  fs::path dir_;
};

fs::path* RetrieveDense::model_ = nullptr;
std::string* RetrieveDense::convert_error_ = nullptr;

TEST_F(RetrieveDense, NamedEncoderWritesTrec) {
  const std::string text = retrieve("--encoder 'minilm=" + model_->string() + "' --retriever dense:minilm --k 2");
  const std::vector<TrecLine> lines = parse_trec(text);

  // The same ranking computed in this process through the library.
  qrag::retrieval::EncoderRegistryOptions options;
  options.threads = 2;
  qrag::retrieval::EncoderRegistry registry({{"minilm", *model_}}, options);
  const auto retriever = qrag::retrieval::make_retriever("dense:minilm", registry.context());
  const qrag::lamp::TaskInfo& task = qrag::lamp::task_info(qrag::lamp::TaskId::kLamp3);
  const std::vector<qrag::lamp::Question> questions = qrag::lamp::load_questions(fixture(), task.id);
  ASSERT_EQ(questions.size(), 3u);

  std::size_t line = 0;
  for (const qrag::lamp::Question& question : questions) {
    const auto documents = qrag::lamp::retrieval_documents(task, question);
    const auto expected = retriever->rank(qrag::lamp::build_query(task, question), documents, 2);
    ASSERT_EQ(expected.ranking.size(), 2u);
    for (std::size_t r = 0; r < expected.ranking.size(); ++r, ++line) {
      ASSERT_LT(line, lines.size()) << "run has too few lines:\n" << text;
      EXPECT_EQ(lines[line].qid, question.id);
      EXPECT_EQ(lines[line].q0, "Q0");
      EXPECT_EQ(lines[line].doc_id, documents[expected.ranking[r].index].id);
      EXPECT_EQ(lines[line].rank, static_cast<int>(r) + 1);
      EXPECT_EQ(lines[line].score, expected.ranking[r].score);
      EXPECT_EQ(lines[line].tag, "dense:minilm?similarity=dot");
    }
  }
  EXPECT_EQ(lines.size(), line);
  // Each query paraphrases exactly one profile review (see the fixture).
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0].doc_id, "d1-3");
  EXPECT_EQ(lines[2].doc_id, "d2-2");
  EXPECT_EQ(lines[4].doc_id, "d3-3");
}

TEST_F(RetrieveDense, PathSpecMatchesNamedEncoder) {
  const std::string named = retrieve("--encoder 'minilm=" + model_->string() + "' --retriever dense:minilm --k 3");
  const std::string spec = "dense:" + qrag::retrieval::percent_encode(model_->string());
  const std::vector<TrecLine> by_path = parse_trec(retrieve("--retriever '" + spec + "' --k 3"));
  const std::vector<TrecLine> by_name = parse_trec(named);
  ASSERT_EQ(by_path.size(), by_name.size());
  ASSERT_EQ(by_path.size(), 9u);
  for (std::size_t i = 0; i < by_path.size(); ++i) {
    EXPECT_EQ(by_path[i].doc_id, by_name[i].doc_id) << "line " << i;
    EXPECT_EQ(by_path[i].score, by_name[i].score) << "line " << i;
    EXPECT_EQ(by_path[i].tag, spec + "?similarity=dot");
  }
}

TEST_F(RetrieveDense, SecondRunReadsEmbeddingCache) {
  const std::string cache = (dir_ / "embeddings.sqlite").string();
  const std::string args =
      "--encoder 'minilm=" + model_->string() + "' --retriever dense:minilm --k 3 --embedding-cache '" + cache + "'";
  CommandResult first_result;
  const std::string first = retrieve(args, &first_result);
  // 13 profile reviews and 3 queries, all distinct.
  EXPECT_THAT(first_result.err, HasSubstr("encoders embedded 16 texts"));
  CommandResult second_result;
  const std::string second = retrieve(args, &second_result);
  EXPECT_THAT(second_result.err, HasSubstr("encoders embedded 0 texts"));
  EXPECT_EQ(second, first);
}

TEST_F(RetrieveDense, BadEncoderOptionsFail) {
  const std::string base = "retrieve --questions '" + fixture().string() + "' --task LaMP_3 ";
  CommandResult r = run_qrag(base + "--encoder 'minilm=" + model_->string() + "' --retriever dense:nope", dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("encoder 'nope' is neither a registered name (registered names: minilm)"));
  r = run_qrag(base + "--encoder minilm --retriever dense:minilm", dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--encoder: invalid encoder binding 'minilm': expected NAME=PATH"));
  r = run_qrag(base + "--encoder a=x.gguf --encoder a=y.gguf --retriever bm25", dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--encoder: name 'a' is given twice"));
  r = run_qrag(base + "--retriever dense", dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("dense spec needs a model"));
}

}  // namespace
