// End-to-end tests of `qrag data download lamp` against a loopback HTTP server in this process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/run_qrag.h"
#include "common/test_paths.h"
#include "lamp/download_test_server.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// SHA-256 of the fixture files from `sha256sum` (see tests/data/lamp-download/README.md).
constexpr std::string_view kQuestionsSha256 =
    "9b3c3499403d528604d561987f19d140c679fff8a3202cd36e67c4400a25b31b";
constexpr std::string_view kOutputsSha256 =
    "3c9f6960cae1759290616fb821f9022ac273af0aaefd8248a1437540bc1fe22e";

using RunResult = qrag::testing::CommandResult;
using qrag::testing::run_qrag;

std::string read_file(const fs::path& path) { return qrag::testing::read_text(path); }

class DataDownloadCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY is not set";
    dir_ = qrag::testing::make_temp_dir();
    questions_ = read_file(qrag::testing::test_data("lamp-download/dev_questions.json"));
    outputs_ = read_file(qrag::testing::test_data("lamp-download/dev_outputs.json"));
  }

  // Serves the fixtures as the dev files of `folder` (e.g. "LaMP_3" or "time/LaMP_2/new").
  void serve_dev(const std::string& folder) {
    server_.add_file("/LaMP/" + folder + "/dev/dev_questions.json", questions_);
    server_.add_file("/LaMP/" + folder + "/dev/dev_outputs.json", outputs_);
  }

  std::string base_args(const fs::path& out) const {
    return "data download lamp --base-url " + server_.base_url() + "/LaMP --out '" + out.string() + "'";
  }

  qrag::testing::DownloadTestServer server_;
  fs::path dir_;
  std::string questions_;
  std::string outputs_;
};

TEST_F(DataDownloadCommand, DevFilesAndChecksums) {
  serve_dev("LaMP_3");
  const fs::path out = dir_ / "lamp3";
  const RunResult r = run_qrag(base_args(out) + " --task 3 --split dev", dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(out / "dev_questions.json"), questions_);
  EXPECT_EQ(read_file(out / "dev_outputs.json"), outputs_);
  const std::string expected = std::string(kQuestionsSha256) + "  " + (out / "dev_questions.json").string() +
                               "\n" + std::string(kOutputsSha256) + "  " +
                               (out / "dev_outputs.json").string() + "\n";
  EXPECT_EQ(r.out, expected);
}

TEST_F(DataDownloadCommand, TimeBasedLamp2UsesNewFolder) {
  serve_dev("time/LaMP_2/new");
  const fs::path out = dir_ / "lamp2";
  const RunResult r = run_qrag(base_args(out) + " --task 2 --split dev --time-based", dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(out / "dev_questions.json"), questions_);
  EXPECT_EQ(read_file(out / "dev_outputs.json"), outputs_);
}

TEST_F(DataDownloadCommand, ResumesPartialFile) {
  serve_dev("LaMP_5");
  const fs::path out = dir_ / "lamp5";
  fs::create_directories(out);
  std::ofstream(out / "dev_questions.json.part", std::ios::binary) << questions_.substr(0, 400);
  const RunResult r = run_qrag(base_args(out) + " --task LaMP_5 --split dev", dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(out / "dev_questions.json"), questions_);
  EXPECT_FALSE(fs::exists(out / "dev_questions.json.part"));
  EXPECT_THAT(r.out, HasSubstr(std::string(kQuestionsSha256)));
  EXPECT_THAT(server_.ranges("/LaMP/LaMP_5/dev/dev_questions.json"), ::testing::ElementsAre("bytes=400-"));
}

TEST_F(DataDownloadCommand, NotFoundNamesUrl) {
  serve_dev("LaMP_3");
  const RunResult r = run_qrag(base_args(dir_ / "train") + " --task 3 --split train", dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(server_.base_url() + "/LaMP/LaMP_3/train/train_questions.json"));
  EXPECT_THAT(r.err, HasSubstr("404"));
  EXPECT_FALSE(fs::exists(dir_ / "train" / "train_questions.json"));
}

TEST_F(DataDownloadCommand, InvalidSplitRejected) {
  const RunResult r = run_qrag(base_args(dir_ / "x") + " --task 3 --split validation", dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("'validation'"));
}

TEST_F(DataDownloadCommand, LongLampRejected) {
  const RunResult r = run_qrag(base_args(dir_ / "x") + " --task LongLaMP_topic --split dev", dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("LongLaMP_topic"));
}

}  // namespace
