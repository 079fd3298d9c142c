// End-to-end tests of `qrag imatrix` and of its file in `qrag quantize --imatrix`, run as a subprocess.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "common/run_qrag.h"
#include "common/test_paths.h"
#include "engine/imatrix.h"
#include "gguf/gguf_file.h"

namespace {

using ::testing::HasSubstr;
using qrag::testing::run_qrag;

constexpr const char* kCalibration =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. "
    "One day, she saw a big red ball in the park. She ran to the ball and kicked it very hard. "
    "The ball went up into the sky and came down near a tree. Lily was happy and she laughed. "
    "Her mom called her home for lunch, and Lily said goodbye to the ball.\n";

class ImatrixCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY is not set";
    stories_ = qrag::testing::shared_file("models/stories260K/stories260K.gguf");
    if (!stories_) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
    dir_ = qrag::testing::make_temp_dir();
    std::ofstream(dir_ / "calibration.txt") << kCalibration;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  // Shell-quoted path. Appended piece by piece: GCC 12 reports a false -Wrestrict on "'" + s + "'".
  static std::string quoted(const std::filesystem::path& path) {
    std::string text = "'";
    text += path.string();
    text += "'";
    return text;
  }

  std::optional<std::filesystem::path> stories_;
  std::filesystem::path dir_;
};

// Table rows of `qrag quantize` whose output type column is `type`, and how many of them note "imatrix".
std::pair<int, int> count_rows(const std::string& table, const std::string& type) {
  std::istringstream lines(table);
  std::string line;
  int n_rows = 0;
  int n_imatrix = 0;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string name, type_in, type_out;
    fields >> name >> type_in >> type_out;
    if (type_out != type) continue;
    ++n_rows;
    if (line.find("imatrix") != std::string::npos) ++n_imatrix;
  }
  return {n_rows, n_imatrix};
}

TEST_F(ImatrixCli, CollectQuantizeCompare) {
  const auto imatrix_path = dir_ / "stories.imatrix.gguf";
  const auto collect = run_qrag("imatrix -m " + quoted(*stories_) + " -f " + quoted(dir_ / "calibration.txt") +
                                    " -o " + quoted(imatrix_path) + " --ctx 32 -t 2",
                                dir_);
  ASSERT_EQ(collect.exit_code, 0) << collect.err;
  EXPECT_THAT(collect.err, HasSubstr("imatrix: chunk 1/"));
  EXPECT_THAT(collect.err, HasSubstr("wrote "));

  const qrag::engine::Imatrix imatrix = qrag::engine::Imatrix::load(imatrix_path);
  EXPECT_EQ(imatrix.dataset, "calibration.txt");
  EXPECT_GT(imatrix.n_tokens, 32u);
  // stories260K has 5 layers of 7 matrices and an output.weight of its own.
  EXPECT_EQ(imatrix.values.size(), 36u);
  EXPECT_NE(imatrix.find("blk.4.ffn_down.weight"), nullptr);

  const auto quant_path = dir_ / "q4_0-imatrix.gguf";
  const auto quantize = run_qrag("quantize " + quoted(*stories_) + " " + quoted(quant_path) + " q4_0 --imatrix " +
                                     quoted(imatrix_path) + " -t 2",
                                 dir_);
  ASSERT_EQ(quantize.exit_code, 0) << quantize.err;
  const auto [n_q4_0, n_weighted] = count_rows(quantize.out, "Q4_0");
  EXPECT_GT(n_q4_0, 1);
  // Every Q4_0 matrix but token_embd.weight (an embedding lookup, untied here) has an entry.
  EXPECT_EQ(n_weighted, n_q4_0 - 1) << quantize.out;
  // ffn_down rows of 172 fall back to F16, which takes no importance.
  EXPECT_EQ(count_rows(quantize.out, "F16").second, 0) << quantize.out;

  const qrag::gguf::GgufFile quantized = qrag::gguf::GgufFile::open(quant_path);
  EXPECT_EQ(quantized.find_string("quantize.imatrix.file"), "stories.imatrix.gguf");
  EXPECT_EQ(quantized.find_string("quantize.imatrix.dataset"), "calibration.txt");
  EXPECT_EQ(quantized.find_uint("quantize.imatrix.entries_count"), 36u);

  const auto compare = run_qrag("compare-logits " + quoted(*stories_) + " " + quoted(quant_path) + " -f " +
                                    quoted(dir_ / "calibration.txt") + " -t 2",
                                dir_);
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  EXPECT_THAT(compare.out, HasSubstr("mean KL divergence"));
}

TEST_F(ImatrixCli, MissingTextFile) {
  const auto result = run_qrag("imatrix -m " + quoted(*stories_) + " -f " + quoted(dir_ / "absent.txt") + " -o " +
                                   quoted(dir_ / "out.gguf"),
                               dir_);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("absent.txt"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out.gguf"));
}

TEST_F(ImatrixCli, RejectsImatrixOfAnotherShape) {
  // An entry whose length differs from the row length must stop the quantizer.
  qrag::engine::Imatrix imatrix;
  imatrix.values["blk.0.attn_q.weight"] = std::vector<float>(32, 1.0f);
  imatrix.save(dir_ / "wrong.gguf");
  const auto result = run_qrag("quantize " + quoted(*stories_) + " " + quoted(dir_ / "q.gguf") +
                                   " q4_0 --imatrix " + quoted(dir_ / "wrong.gguf"),
                               dir_);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("blk.0.attn_q.weight"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "q.gguf"));
}

}  // namespace
