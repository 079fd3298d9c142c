// Tests of lamp::download_file against a loopback HTTP server: bytes, checksum, resume,
// retries, redirects and HTTP errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/test_paths.h"
#include "core/error.h"
#include "lamp/download.h"
#include "lamp/download_test_server.h"

namespace qrag::lamp {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// SHA-256 of the fixture files from `sha256sum` (see tests/data/lamp-download/README.md).
constexpr std::string_view kQuestionsSha256 =
    "9b3c3499403d528604d561987f19d140c679fff8a3202cd36e67c4400a25b31b";
constexpr std::string_view kOutputsSha256 =
    "3c9f6960cae1759290616fb821f9022ac273af0aaefd8248a1437540bc1fe22e";
constexpr std::string_view kQuestionsPath = "/LaMP/LaMP_3/dev/dev_questions.json";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

class DownloadFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = qrag::testing::make_temp_dir();
    questions_ = read_file(qrag::testing::test_data("lamp-download/dev_questions.json"));
    ASSERT_GT(questions_.size(), 100u);
    server_.add_file(std::string(kQuestionsPath), questions_);
    options_.retry_delay_ms = 0;
    options_.read_timeout_s = 5;
    options_.connect_timeout_s = 5;
  }

  std::string url(std::string_view path) const { return server_.base_url() + std::string(path); }

  qrag::testing::DownloadTestServer server_;
  fs::path dir_;
  std::string questions_;
  DownloadOptions options_;
};

TEST_F(DownloadFile, BytesAndChecksum) {
  const fs::path destination = dir_ / "sub" / "dev_questions.json";
  const DownloadResult result = download_file(url(kQuestionsPath), destination, options_);
  EXPECT_EQ(read_file(destination), questions_);
  EXPECT_EQ(result.sha256, kQuestionsSha256);
  EXPECT_EQ(result.bytes, questions_.size());
  EXPECT_EQ(result.attempts, 1);
  EXPECT_EQ(result.resumed_from, 0u);
  EXPECT_FALSE(result.skipped);
  EXPECT_FALSE(fs::exists(partial_path(destination)));
  EXPECT_THAT(server_.ranges(std::string(kQuestionsPath)), ElementsAre(""));
}

TEST_F(DownloadFile, OutputsFixtureChecksum) {
  server_.add_file("/o.json", read_file(qrag::testing::test_data("lamp-download/dev_outputs.json")));
  EXPECT_EQ(download_file(url("/o.json"), dir_ / "o.json", options_).sha256, kOutputsSha256);
}

TEST_F(DownloadFile, ResumesExistingPartialFile) {
  const fs::path destination = dir_ / "dev_questions.json";
  const std::size_t head = 300;
  write_file(partial_path(destination), std::string_view(questions_).substr(0, head));
  const DownloadResult result = download_file(url(kQuestionsPath), destination, options_);
  EXPECT_EQ(read_file(destination), questions_);
  EXPECT_EQ(result.sha256, kQuestionsSha256);
  EXPECT_EQ(result.resumed_from, head);
  EXPECT_THAT(server_.ranges(std::string(kQuestionsPath)), ElementsAre("bytes=300-"));
}

TEST_F(DownloadFile, RetryResumesAfterConnectionCut) {
  server_.cut_responses(std::string(kQuestionsPath), 200, 1);
  const fs::path destination = dir_ / "dev_questions.json";
  const DownloadResult result = download_file(url(kQuestionsPath), destination, options_);
  EXPECT_EQ(read_file(destination), questions_);
  EXPECT_EQ(result.sha256, kQuestionsSha256);
  EXPECT_EQ(result.attempts, 2);
  EXPECT_EQ(result.resumed_from, 200u);
  EXPECT_THAT(server_.ranges(std::string(kQuestionsPath)), ElementsAre("", "bytes=200-"));
}

TEST_F(DownloadFile, FailureKeepsPartialForNextRun) {
  server_.cut_responses(std::string(kQuestionsPath), 100, 2);
  options_.max_attempts = 2;
  const fs::path destination = dir_ / "dev_questions.json";
  try {
    download_file(url(kQuestionsPath), destination, options_);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_THAT(error.message(), HasSubstr(url(kQuestionsPath)));
    EXPECT_THAT(error.message(), HasSubstr("after 2 attempt(s)"));
    EXPECT_THAT(error.message(), HasSubstr("Read error after 200 bytes on disk"));
    EXPECT_THAT(error.message(), HasSubstr("rerun to resume"));
  }
  EXPECT_FALSE(fs::exists(destination));
  EXPECT_EQ(read_file(partial_path(destination)), questions_.substr(0, 200));

  // The next run resumes where the failed one stopped.
  const DownloadResult result = download_file(url(kQuestionsPath), destination, options_);
  EXPECT_EQ(result.resumed_from, 200u);
  EXPECT_EQ(result.sha256, kQuestionsSha256);
  EXPECT_THAT(server_.ranges(std::string(kQuestionsPath)), ElementsAre("", "bytes=100-", "bytes=200-"));
}

TEST_F(DownloadFile, PartialLongerThanFileRestarts) {
  const fs::path destination = dir_ / "dev_questions.json";
  write_file(partial_path(destination), questions_ + "extra bytes from another version of the file");
  const DownloadResult result = download_file(url(kQuestionsPath), destination, options_);
  EXPECT_EQ(read_file(destination), questions_);
  EXPECT_EQ(result.sha256, kQuestionsSha256);
  EXPECT_EQ(result.attempts, 2);
}

TEST_F(DownloadFile, ServerIgnoringRangeRestarts) {
  server_.ignore_ranges(true);
  const fs::path destination = dir_ / "dev_questions.json";
  write_file(partial_path(destination), "stale bytes that must not survive");
  const DownloadResult result = download_file(url(kQuestionsPath), destination, options_);
  EXPECT_EQ(read_file(destination), questions_);
  EXPECT_EQ(result.sha256, kQuestionsSha256);
  EXPECT_EQ(result.resumed_from, 0u);
  EXPECT_THAT(server_.ranges(std::string(kQuestionsPath)), ElementsAre("bytes=33-"));
}

// A 416 answer whose Content-Range length equals the partial file means the file is complete
// (an earlier run stopped before the rename), so nothing is downloaded again.
TEST_F(DownloadFile, CompletePartialFileIsFinished) {
  const fs::path destination = dir_ / "dev_questions.json";
  write_file(partial_path(destination), questions_);
  const DownloadResult result = download_file(url(kQuestionsPath), destination, options_);
  EXPECT_EQ(read_file(destination), questions_);
  EXPECT_EQ(result.sha256, kQuestionsSha256);
  EXPECT_EQ(result.attempts, 1);
  EXPECT_THAT(server_.ranges(std::string(kQuestionsPath)), ElementsAre("bytes=967-"));
  EXPECT_FALSE(fs::exists(partial_path(destination)));
}

TEST_F(DownloadFile, ExistingDestinationKeptUnlessForced) {
  const fs::path destination = dir_ / "dev_questions.json";
  write_file(destination, "abc");
  const DownloadResult kept = download_file(url(kQuestionsPath), destination, options_);
  EXPECT_TRUE(kept.skipped);
  EXPECT_EQ(kept.attempts, 0);
  EXPECT_EQ(kept.sha256, sha256_hex("abc"));
  EXPECT_TRUE(server_.ranges(std::string(kQuestionsPath)).empty());

  options_.force = true;
  const DownloadResult forced = download_file(url(kQuestionsPath), destination, options_);
  EXPECT_FALSE(forced.skipped);
  EXPECT_EQ(read_file(destination), questions_);
}

TEST_F(DownloadFile, FollowsRedirect) {
  server_.add_redirect("/moved.json", std::string(kQuestionsPath));
  const DownloadResult result = download_file(url("/moved.json"), dir_ / "q.json", options_);
  EXPECT_EQ(result.sha256, kQuestionsSha256);
}

TEST_F(DownloadFile, NotFoundNamesUrl) {
  const fs::path destination = dir_ / "missing.json";
  const std::string missing = url("/LaMP/LaMP_3/train/train_questions.json");
  try {
    download_file(missing, destination, options_);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_THAT(error.message(), HasSubstr(missing));
    EXPECT_THAT(error.message(), HasSubstr("404"));
  }
  EXPECT_FALSE(fs::exists(destination));
}

TEST_F(DownloadFile, ConnectionRefusedNamesUrl) {
  // A port whose server has stopped refuses connections.
  std::string refused;
  {
    qrag::testing::DownloadTestServer stopped;
    refused = stopped.base_url() + "/x.json";
  }
  options_.max_attempts = 1;
  try {
    download_file(refused, dir_ / "x.json", options_);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_THAT(error.message(), HasSubstr(refused));
    EXPECT_THAT(error.message(), HasSubstr("Connection error after 0 bytes"));
    EXPECT_THAT(error.message(), ::testing::Not(HasSubstr("rerun to resume")));
  }
}

}  // namespace
}  // namespace qrag::lamp
