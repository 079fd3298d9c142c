// End-to-end `qrag generate` on stories260K: greedy output, chat errors and context overflow.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/test_paths.h"

namespace {

struct RunResult {
  int status = -1;
  std::string output;  // stdout only
};

// Runs the qrag binary with `args` (shell-quoted by the caller); stderr goes to /dev/null.
RunResult run_qrag(const std::string& args) {
  const char* binary = std::getenv("QRAG_BINARY");
  RunResult result;
  if (binary == nullptr) return result;
  const std::string command = std::string("'") + binary + "' " + args + " 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  while (const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TEST(Generate, GreedyStoriesOutput) {
  if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY not set";
  const auto model = qrag::testing::shared_file("models/stories260K/stories260K.gguf");
  if (!model) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
  const auto one = run_qrag("generate -m '" + model->string() + "' -p 'Once upon a time' -n 24 -t 1");
  ASSERT_EQ(one.status, 0);
  EXPECT_EQ(one.output.rfind(", there was a little girl named Lily.", 0), 0u) << one.output;
  const auto two = run_qrag("generate -m '" + model->string() + "' -p 'Once upon a time' -n 24 -t 2");
  EXPECT_EQ(two.output, one.output);
  // The model read into memory instead of mapped: same weights, same text.
  const auto read = run_qrag("generate -m '" + model->string() + "' -p 'Once upon a time' -n 24 -t 2 --no-mmap");
  ASSERT_EQ(read.status, 0);
  EXPECT_EQ(read.output, one.output);
}

TEST(Generate, SeededSamplingRepeats) {
  if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY not set";
  const auto model = qrag::testing::shared_file("models/stories260K/stories260K.gguf");
  if (!model) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
  const std::string args = "generate -m '" + model->string() + "' -p 'Lily' -n 32 --temp 0.9 --seed 5 --top-k 20";
  const auto a = run_qrag(args + " -t 1");
  const auto b = run_qrag(args + " -t 2");
  ASSERT_EQ(a.status, 0);
  EXPECT_FALSE(a.output.empty());
  EXPECT_EQ(a.output, b.output);
}

TEST(Generate, PromptBeyondContextFails) {
  if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY not set";
  const auto model = qrag::testing::shared_file("models/stories260K/stories260K.gguf");
  if (!model) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
  const auto result = run_qrag("generate -m '" + model->string() + "' -p 'Once upon a time there was' --ctx 3");
  EXPECT_EQ(result.status, 1);
}

TEST(Generate, RejectsPromptAndChatTogether) {
  if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY not set";
  const auto model = qrag::testing::shared_file("models/stories260K/stories260K.gguf");
  if (!model) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
  EXPECT_EQ(run_qrag("generate -m '" + model->string() + "' -p a --chat b").status, 1);
  EXPECT_EQ(run_qrag("generate -m '" + model->string() + "'").status, 1);
}

TEST(Generate, SmolLM2AnswersChat) {
  if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY not set";
  const auto model = qrag::testing::source_dir() / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(model)) GTEST_SKIP() << "needs " << model << " (scripts/setup.sh)";
  const auto result = run_qrag("generate -m '" + model.string() + "' --chat 'What is the capital of France?' -n 24");
  ASSERT_EQ(result.status, 0);
  EXPECT_NE(result.output.find("Paris"), std::string::npos) << result.output;
}

}  // namespace
