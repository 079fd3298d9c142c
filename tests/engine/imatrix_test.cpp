// Tests of the importance matrix: accumulation against brute force, file round trip, validation.
#include "engine/imatrix.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "common/test_paths.h"
#include "core/error.h"
#include "gguf/gguf_writer.h"

namespace qrag::engine {
namespace {

using ::testing::HasSubstr;

TEST(ImatrixCollector, MeansMatchBruteForce) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  constexpr std::int64_t kCols = 17;
  std::vector<std::vector<float>> batches;
  ImatrixCollector collector;
  for (std::int64_t n_rows : {1, 3, 5}) {
    std::vector<float> x(static_cast<std::size_t>(n_rows * kCols));
    for (float& v : x) v = normal(rng);
    collector.observe("blk.0.attn_q.weight", x.data(), n_rows, kCols);
    batches.push_back(std::move(x));
  }
  collector.add_tokens(9);
  const Imatrix imatrix = collector.result("unit");
  ASSERT_NE(imatrix.find("blk.0.attn_q.weight"), nullptr);
  const std::vector<float>& mean = *imatrix.find("blk.0.attn_q.weight");
  ASSERT_EQ(mean.size(), static_cast<std::size_t>(kCols));
  for (std::int64_t j = 0; j < kCols; ++j) {
    double sum = 0.0;
    int n = 0;
    for (const auto& x : batches) {
      for (std::size_t r = 0; r < x.size() / kCols; ++r, ++n) sum += static_cast<double>(x[r * kCols + j]) * x[r * kCols + j];
    }
    // The result is the double mean rounded once to float.
    EXPECT_EQ(mean[static_cast<std::size_t>(j)], static_cast<float>(sum / n)) << j;
  }
  EXPECT_EQ(imatrix.counts.at("blk.0.attn_q.weight"), 9u);
  EXPECT_EQ(imatrix.n_tokens, 9u);
  EXPECT_EQ(imatrix.dataset, "unit");
  EXPECT_EQ(imatrix.find("blk.0.attn_k.weight"), nullptr);
}

TEST(ImatrixCollector, RejectsColumnChange) {
  ImatrixCollector collector;
  const std::vector<float> x(8, 1.0f);
  collector.observe("w", x.data(), 1, 8);
  EXPECT_THROW(collector.observe("w", x.data(), 2, 4), Error);
}

TEST(ImatrixCollector, RejectsNan) {
  ImatrixCollector collector;
  std::vector<float> x(8, 1.0f);
  x[5] = std::numeric_limits<float>::quiet_NaN();
  try {
    collector.observe("blk.1.ffn_down.weight", x.data(), 2, 4);
    ADD_FAILURE() << "NaN activation did not throw";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("blk.1.ffn_down.weight"));
  }
}

TEST(ImatrixFile, RoundTrip) {
  const auto dir = qrag::testing::make_temp_dir();
  Imatrix imatrix;
  imatrix.dataset = "wiki.txt";
  imatrix.n_tokens = 4096;
  imatrix.values["blk.0.attn_q.weight"] = {0.5f, 1.5f, 0.0f};
  imatrix.values["output.weight"] = {2.0f, 3.0f};
  imatrix.counts["blk.0.attn_q.weight"] = 4096;
  imatrix.counts["output.weight"] = 4096;
  imatrix.save(dir / "i.gguf");
  const Imatrix loaded = Imatrix::load(dir / "i.gguf");
  EXPECT_EQ(loaded.dataset, "wiki.txt");
  EXPECT_EQ(loaded.n_tokens, 4096u);
  EXPECT_EQ(loaded.values, imatrix.values);
  EXPECT_EQ(loaded.counts, imatrix.counts);
  std::filesystem::remove_all(dir);
}

TEST(ImatrixFile, RejectsOtherFiles) {
  const auto dir = qrag::testing::make_temp_dir();
  gguf::GgufWriter model;
  model.add_metadata("general.architecture", gguf::Value{std::string("llama")});
  model.write_file(dir / "model.gguf", [](const gguf::TensorInfo&, gguf::ByteSink&) {});
  try {
    Imatrix::load(dir / "model.gguf");
    ADD_FAILURE() << "a model file was accepted as an importance matrix";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("general.type"));
    EXPECT_THAT(error.what(), HasSubstr("model.gguf"));
  }

  gguf::GgufWriter negative;
  negative.add_metadata("general.type", gguf::Value{std::string("imatrix")});
  const std::vector<std::int64_t> ne{2};
  negative.add_tensor("blk.0.attn_q.weight", gguf::GgmlType::F32, ne);
  negative.write_file(dir / "negative.gguf", [](const gguf::TensorInfo&, gguf::ByteSink& out) {
    const float values[2] = {1.0f, -1.0f};
    out.write({reinterpret_cast<const std::uint8_t*>(values), sizeof(values)});
  });
  try {
    Imatrix::load(dir / "negative.gguf");
    ADD_FAILURE() << "a negative importance was accepted";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("blk.0.attn_q.weight"));
    EXPECT_THAT(error.what(), HasSubstr("column 1"));
  }
  std::filesystem::remove_all(dir);
}

TEST(ImatrixFile, RejectsLlamaCppLayout) {
  const auto dir = qrag::testing::make_temp_dir();
  gguf::GgufWriter writer;
  writer.add_metadata("general.type", gguf::Value{std::string("imatrix")});
  const std::vector<std::int64_t> ne{2};
  writer.add_tensor("blk.0.attn_q.weight.in_sum2", gguf::GgmlType::F32, ne);
  writer.write_file(dir / "llama.gguf", [](const gguf::TensorInfo&, gguf::ByteSink& out) {
    const float values[2] = {1.0f, 2.0f};
    out.write({reinterpret_cast<const std::uint8_t*>(values), sizeof(values)});
  });
  try {
    Imatrix::load(dir / "llama.gguf");
    ADD_FAILURE() << "a file with .in_sum2 tensors was accepted";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("blk.0.attn_q.weight.in_sum2"));
    EXPECT_THAT(error.what(), HasSubstr("llama.cpp"));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace qrag::engine
