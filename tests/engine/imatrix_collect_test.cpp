// Tests of importance collection through the decoder's matmul observer on stories260K, against brute force.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "common/test_paths.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/imatrix.h"
#include "engine/quantizer.h"
#include "model/decoder.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace qrag::engine {
namespace {

constexpr const char* kStory =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. "
    "One day, she saw a big red ball in the park. She ran to the ball and kicked it very hard.";

class ImatrixStories : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto path = qrag::testing::shared_file("models/stories260K/stories260K.gguf");
    if (!path) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
    path_ = *path;
    model_ = model::Model::load(path_);
    tokenizer_ = std::make_unique<tokenizer::Tokenizer>(tokenizer::Tokenizer::from_gguf(model_->file()));
  }

  // Names of the 2-D tensors the decoder multiplies with: every matrix except the
  // embedding table, which serves as the output matrix only when that is tied.
  std::set<std::string> matmul_weight_names() const {
    std::set<std::string> names;
    for (const gguf::TensorInfo& info : model_->file().tensors()) {
      if (info.n_dims != 2) continue;
      if (info.name == "token_embd.weight" && !model_->weights().tied_output) continue;
      names.insert(info.name);
    }
    return names;
  }

  std::filesystem::path path_;
  std::unique_ptr<model::Model> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  core::ThreadPool pool_{2};
  kernels::KernelContext kernels_{pool_};
};

TEST_F(ImatrixStories, EntryForEveryMatmulWeight) {
  ImatrixOptions options;
  options.n_ctx = 16;  // several chunks
  const Imatrix imatrix = collect_imatrix(*model_, *tokenizer_, kStory, options, kernels_, "story");

  const std::set<std::string> expected = matmul_weight_names();
  ASSERT_EQ(expected.size(), 7u * static_cast<std::size_t>(model_->hparams().n_layer) + 1u);
  std::set<std::string> names;
  for (const auto& [name, values] : imatrix.values) names.insert(name);
  EXPECT_EQ(names, expected);

  EXPECT_GT(imatrix.n_tokens, 32u);
  EXPECT_EQ(imatrix.dataset, "story");
  for (const auto& [name, values] : imatrix.values) {
    const gguf::TensorInfo* info = model_->file().find_tensor(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(static_cast<std::int64_t>(values.size()), info->ne[0]) << name;
    // Logits are computed for every token, so every matrix receives every row.
    EXPECT_EQ(imatrix.counts.at(name), imatrix.n_tokens) << name;
    bool any_positive = false;
    for (const float v : values) {
      EXPECT_TRUE(std::isfinite(v)) << name;
      EXPECT_GE(v, 0.0f) << name;
      any_positive = any_positive || v > 0.0f;
    }
    EXPECT_TRUE(any_positive) << name;
  }
}

TEST_F(ImatrixStories, SharedInputsGiveEqualEntries) {
  ImatrixOptions options;
  options.n_ctx = 32;
  const Imatrix imatrix = collect_imatrix(*model_, *tokenizer_, kStory, options, kernels_, "");
  for (std::int64_t il = 0; il < model_->hparams().n_layer; ++il) {
    const std::string prefix = "blk." + std::to_string(il) + ".";
    // Q, K and V multiply the same normed rows, and so do gate and up.
    EXPECT_EQ(*imatrix.find(prefix + "attn_q.weight"), *imatrix.find(prefix + "attn_k.weight")) << il;
    EXPECT_EQ(*imatrix.find(prefix + "attn_q.weight"), *imatrix.find(prefix + "attn_v.weight")) << il;
    EXPECT_EQ(*imatrix.find(prefix + "ffn_gate.weight"), *imatrix.find(prefix + "ffn_up.weight")) << il;
  }
}

// blk.0.attn_q.weight multiplies rms_norm(embedding) * attn_norm, which is recomputed here in double.
TEST_F(ImatrixStories, FirstLayerMatchesBruteForce) {
  const model::Hparams& hp = model_->hparams();
  ImatrixOptions options;
  options.n_ctx = 512;  // one chunk
  const Imatrix imatrix = collect_imatrix(*model_, *tokenizer_, kStory, options, kernels_, "");

  std::vector<std::int32_t> tokens;
  if (tokenizer_->add_bos()) tokens.push_back(tokenizer_->bos());
  const auto text_tokens = tokenizer_->encode(kStory, false, false);
  tokens.insert(tokens.end(), text_tokens.begin(), text_tokens.end());
  ASSERT_EQ(imatrix.n_tokens, tokens.size());

  const float* attn_norm = model_->weights().layers[0].attn_norm;
  std::vector<double> sum_sq(static_cast<std::size_t>(hp.n_embd), 0.0);
  std::vector<float> embedding(static_cast<std::size_t>(hp.n_embd));  // [n_embd]
  for (const std::int32_t token : tokens) {
    model_->embed(token, embedding.data());
    double mean_square = 0.0;
    for (const float e : embedding) mean_square += static_cast<double>(e) * e;
    mean_square /= static_cast<double>(hp.n_embd);
    const double scale = 1.0 / std::sqrt(mean_square + hp.norm_eps);
    for (std::size_t j = 0; j < embedding.size(); ++j) {
      const double normed = embedding[j] * scale * attn_norm[j];
      sum_sq[j] += normed * normed;
    }
  }

  const std::vector<float>& entry = *imatrix.find("blk.0.attn_q.weight");
  ASSERT_EQ(entry.size(), sum_sq.size());
  // The kernel's F32 rms_norm has a relative error of at most about (n_embd + 4) units
  // of roundoff per value, squaring doubles it, and the stored mean adds one rounding.
  const double unit = FLT_EPSILON / 2.0;
  const double tolerance = (2.0 * static_cast<double>(hp.n_embd + 4) + 1.0) * unit;
  for (std::size_t j = 0; j < entry.size(); ++j) {
    const double expected = sum_sq[j] / static_cast<double>(tokens.size());
    EXPECT_NEAR(entry[j], expected, tolerance * expected) << "column " << j;
  }
}

TEST_F(ImatrixStories, ChunkLimitAndTokenCount) {
  ImatrixOptions options;
  options.n_ctx = 8;
  options.n_chunks = 2;
  const Imatrix imatrix = collect_imatrix(*model_, *tokenizer_, kStory, options, kernels_, "");
  EXPECT_EQ(imatrix.n_tokens, 16u);
  EXPECT_EQ(imatrix.counts.at("blk.0.attn_q.weight"), 16u);
}

TEST_F(ImatrixStories, RejectsInvalidOptions) {
  ImatrixOptions options;
  options.n_ctx = 1;
  EXPECT_THROW(collect_imatrix(*model_, *tokenizer_, kStory, options, kernels_, ""), Error);
  options.n_ctx = 64;
  options.n_chunks = -1;
  EXPECT_THROW(collect_imatrix(*model_, *tokenizer_, kStory, options, kernels_, ""), Error);
  options.n_chunks = 0;
  EXPECT_THROW(collect_imatrix(*model_, *tokenizer_, "", options, kernels_, ""), Error);
}

TEST_F(ImatrixStories, ObserverLeavesLogitsUnchanged) {
  const auto tokens = tokenizer_->encode(kStory, true, false);
  model::KvCache cache(model_->hparams(), 256, 1);
  model::Decoder decoder(*model_, cache, kernels_);
  const model::SequenceInput input{0, tokens, /*all_logits=*/true};
  const auto plain_span = decoder.decode(std::span(&input, 1));
  const std::vector<float> plain(plain_span.begin(), plain_span.end());

  ImatrixCollector collector;
  decoder.set_matmul_observer(&collector);
  cache.clear(0);
  const auto observed = decoder.decode(std::span(&input, 1));
  EXPECT_TRUE(std::equal(plain.begin(), plain.end(), observed.begin(), observed.end()));
  const std::size_t n_seen = collector.n_tensors();
  EXPECT_EQ(n_seen, matmul_weight_names().size());

  // After removing the observer, nothing more reaches it.
  decoder.set_matmul_observer(nullptr);
  cache.clear(0);
  decoder.decode(std::span(&input, 1));
  EXPECT_EQ(collector.result("").counts.at("blk.0.attn_q.weight"), tokens.size());
}

TEST_F(ImatrixStories, QuantizerUsesCollectedFile) {
  const auto dir = qrag::testing::make_temp_dir();
  const Imatrix imatrix = collect_imatrix(*model_, *tokenizer_, kStory, ImatrixOptions{}, kernels_, "story");
  imatrix.save(dir / "imatrix.gguf");

  QuantizeOptions options;
  options.target = *parse_quant_target("q4_0");
  options.imatrix = dir / "imatrix.gguf";
  const QuantizeReport report = quantize_model(path_, dir / "q4_0.gguf", options, &pool_);
  ASSERT_FALSE(model_->weights().tied_output);
  int n_q4_0 = 0;
  for (const TensorReport& row : report.tensors) {
    if (row.type_out != gguf::GgmlType::Q4_0) continue;
    ++n_q4_0;
    // Embedding lookups are no matmul, so an untied token_embd.weight has no entry.
    EXPECT_EQ(row.used_imatrix, row.name != "token_embd.weight") << row.name;
  }
  EXPECT_GT(n_q4_0, 1);

  // Q5_0 has no weighted quantizer, so no row may claim the importance.
  options.target = *parse_quant_target("q5_0");
  const QuantizeReport q5_0 = quantize_model(path_, dir / "q5_0.gguf", options, &pool_);
  for (const TensorReport& row : q5_0.tensors) EXPECT_FALSE(row.used_imatrix) << row.name;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace qrag::engine
