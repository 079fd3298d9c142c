// End-to-end `qrag generate` on stories260K: greedy output, chat errors and context overflow.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/run_qrag.h"
#include "common/test_paths.h"

namespace {

using qrag::testing::run_qrag;

TEST(Generate, GreedyStoriesOutput) {
  if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY not set";
  const auto model = qrag::testing::shared_file("models/stories260K/stories260K.gguf");
  if (!model) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
  const auto dir = qrag::testing::make_temp_dir();
  const auto one = run_qrag("generate -m '" + model->string() + "' -p 'Once upon a time' -n 24 -t 1", dir);
  ASSERT_EQ(one.exit_code, 0);
  EXPECT_EQ(one.out.rfind(", there was a little girl named Lily.", 0), 0u) << one.out;
  const auto two = run_qrag("generate -m '" + model->string() + "' -p 'Once upon a time' -n 24 -t 2", dir);
  EXPECT_EQ(two.out, one.out);
  // The model read into memory instead of mapped: same weights, same text.
  const auto read =
      run_qrag("generate -m '" + model->string() + "' -p 'Once upon a time' -n 24 -t 2 --no-mmap", dir);
  ASSERT_EQ(read.exit_code, 0);
  EXPECT_EQ(read.out, one.out);
}

TEST(Generate, SeededSamplingRepeats) {
  if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY not set";
  const auto model = qrag::testing::shared_file("models/stories260K/stories260K.gguf");
  if (!model) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
  const auto dir = qrag::testing::make_temp_dir();
  const std::string args = "generate -m '" + model->string() + "' -p 'Lily' -n 32 --temp 0.9 --seed 5 --top-k 20";
  const auto a = run_qrag(args + " -t 1", dir);
  const auto b = run_qrag(args + " -t 2", dir);
  ASSERT_EQ(a.exit_code, 0);
  EXPECT_FALSE(a.out.empty());
  EXPECT_EQ(a.out, b.out);
}

TEST(Generate, PromptBeyondContextFails) {
  if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY not set";
  const auto model = qrag::testing::shared_file("models/stories260K/stories260K.gguf");
  if (!model) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
  const auto dir = qrag::testing::make_temp_dir();
  const auto result =
      run_qrag("generate -m '" + model->string() + "' -p 'Once upon a time there was' --ctx 3", dir);
  EXPECT_EQ(result.exit_code, 1);
}

TEST(Generate, RejectsPromptAndChatTogether) {
  if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY not set";
  const auto model = qrag::testing::shared_file("models/stories260K/stories260K.gguf");
  if (!model) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
  const auto dir = qrag::testing::make_temp_dir();
  EXPECT_EQ(run_qrag("generate -m '" + model->string() + "' -p a --chat b", dir).exit_code, 1);
  EXPECT_EQ(run_qrag("generate -m '" + model->string() + "'", dir).exit_code, 1);
}

TEST(Generate, SmolLM2AnswersChat) {
  if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY not set";
  const auto model = qrag::testing::source_dir() / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(model)) GTEST_SKIP() << "needs " << model << " (scripts/setup.sh)";
  const auto dir = qrag::testing::make_temp_dir();
  const auto result =
      run_qrag("generate -m '" + model.string() + "' --chat 'What is the capital of France?' -n 24", dir);
  ASSERT_EQ(result.exit_code, 0);
  EXPECT_NE(result.out.find("Paris"), std::string::npos) << result.out;
}

}  // namespace
