// End-to-end tests of `qrag quantize` and `qrag compare-logits` run as a subprocess.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "common/run_qrag.h"
#include "common/test_paths.h"
#include "gguf/gguf_file.h"

namespace {

using ::testing::HasSubstr;
using qrag::testing::CommandResult;
using qrag::testing::run_qrag;

class QuantizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("QRAG_BINARY") == nullptr) GTEST_SKIP() << "QRAG_BINARY is not set";
    stories_ = qrag::testing::shared_file("models/stories260K/stories260K.gguf");
    if (!stories_) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
    dir_ = qrag::testing::make_temp_dir();
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::optional<std::filesystem::path> stories_;
  std::filesystem::path dir_;
};

TEST_F(QuantizeCli, StoriesFallbackToF16) {
  const auto out = dir_ / "q4_0.gguf";
  const CommandResult result =
      run_qrag("quantize '" + stories_->string() + "' '" + out.string() + "' q4_0 -t 2", dir_);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("blk.0.ffn_down.weight"));
  EXPECT_THAT(result.out, HasSubstr("total: "));
  EXPECT_THAT(result.out, HasSubstr("bits per weight"));
  // Each 172-long ffn_down falls back to F16 and is logged.
  for (int il = 0; il < 5; ++il) {
    EXPECT_THAT(result.err, HasSubstr("blk." + std::to_string(il) + ".ffn_down.weight': F16 instead of Q4_0"));
  }
  const auto file = qrag::gguf::GgufFile::open(out);
  EXPECT_EQ(file.tensor("blk.0.attn_q.weight").type, qrag::gguf::GgmlType::Q4_0);
  EXPECT_EQ(file.get_uint("general.file_type"), 2u);
}

TEST_F(QuantizeCli, RejectsUnknownType) {
  const CommandResult result =
      run_qrag("quantize '" + stories_->string() + "' '" + (dir_ / "x.gguf").string() + "' q9_9", dir_);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("unknown quantization target 'q9_9'"));
  EXPECT_THAT(result.err, HasSubstr("q4_k_m"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "x.gguf"));
}

TEST_F(QuantizeCli, RequantizeNeedsFlag) {
  const auto q4 = dir_ / "q4_1.gguf";
  ASSERT_EQ(run_qrag("quantize '" + stories_->string() + "' '" + q4.string() + "' q4_1", dir_).exit_code, 0);
  const auto q8 = dir_ / "q8_0.gguf";
  const CommandResult refused =
      run_qrag("quantize '" + q4.string() + "' '" + q8.string() + "' --mix q4_k_m", dir_);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("--allow-requantize"));
  const CommandResult allowed =
      run_qrag("quantize '" + q4.string() + "' '" + q8.string() + "' q8_0 --allow-requantize", dir_);
  ASSERT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_THAT(allowed.out, HasSubstr("quantized from: Q4_1"));
  EXPECT_EQ(qrag::gguf::GgufFile::open(q8).get_string("qrag.quantized_from"), "Q4_1");
}

TEST_F(QuantizeCli, CompareLogitsPrintsStatistics) {
  const auto q8 = dir_ / "q8_0.gguf";
  ASSERT_EQ(run_qrag("quantize '" + stories_->string() + "' '" + q8.string() + "' q8_0", dir_).exit_code, 0);
  const auto text = dir_ / "text.txt";
  std::ofstream(text) << "Once upon a time, there was a little dog. The dog liked to run and play in the park.";
  const CommandResult result = run_qrag(
      "compare-logits '" + stories_->string() + "' '" + q8.string() + "' -f '" + text.string() + "'", dir_);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("mean KL divergence"));
  EXPECT_THAT(result.out, HasSubstr("top-1 agreement"));
  EXPECT_THAT(result.out, HasSubstr("perplexity"));
}

}  // namespace
