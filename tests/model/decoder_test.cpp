// Decoder properties on stories260K: thread-count determinism, multi-sequence batches, prefix copies, errors.
#include <gtest/gtest.h>

#include <memory>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

#include "common/test_paths.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "model/decoder.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/sampler.h"
#include "model/tensor_loader.h"

namespace qrag::model {
namespace {

constexpr const char* kStories = "models/stories260K/stories260K.gguf";

const std::vector<std::int32_t> kPromptA = {1, 403, 407, 261, 378};
const std::vector<std::int32_t> kPromptB = {1, 291, 376, 268, 315, 418, 286, 296, 418, 329, 429};

std::unique_ptr<Model> load_stories() {
  const auto path = testing::shared_file(kStories);
  if (!path) return nullptr;
  return Model::load(*path);
}

// Prompt logits (all positions) followed by the logits of n_steps greedy steps.
std::vector<float> run_greedy(const Model& model, int n_threads, const std::vector<std::int32_t>& prompt,
                              int n_steps) {
  core::ThreadPool pool(n_threads);
  kernels::KernelContext kernels(pool);
  KvCache cache(model.hparams(), 128, 1);
  Decoder decoder(model, cache, kernels);
  const SequenceInput input{0, prompt, true};
  const auto first = decoder.decode({&input, 1});
  std::vector<float> all(first.begin(), first.end());
  const auto n_vocab = static_cast<std::size_t>(model.hparams().n_vocab);
  for (int i = 0; i < n_steps; ++i) {
    const std::int32_t token = argmax({all.end() - static_cast<std::ptrdiff_t>(n_vocab), all.end()});
    const SequenceInput next{0, {&token, 1}, false};
    const auto step = decoder.decode({&next, 1});
    all.insert(all.end(), step.begin(), step.end());
  }
  return all;
}

TEST(Decoder, SameBitsForOneAndTwoThreads) {
  const auto model = load_stories();
  if (!model) GTEST_SKIP() << "needs ../shared/" << kStories;
  const auto one = run_greedy(*model, 1, kPromptB, 24);
  const auto two = run_greedy(*model, 2, kPromptB, 24);
  ASSERT_EQ(one.size(), two.size());
  for (std::size_t i = 0; i < one.size(); ++i) ASSERT_EQ(one[i], two[i]) << "logit " << i;
}

// The weights read into huge-page-advised memory are the same bytes, so the
// logits must be the same bits as from the mapped file.
TEST(Decoder, ReadCopySameBitsAsMapping) {
  const auto path = testing::shared_file(kStories);
  if (!path) GTEST_SKIP() << "needs ../shared/" << kStories;
  const auto mapped = Model::load(*path, core::MappedFile::Mode::kMmap);
  const auto read = Model::load(*path, core::MappedFile::Mode::kRead);
  EXPECT_TRUE(mapped->file().mapped().is_mapped());
  EXPECT_FALSE(read->file().mapped().is_mapped());
  const auto a = run_greedy(*mapped, 2, kPromptA, 8);
  const auto b = run_greedy(*read, 2, kPromptA, 8);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "logit " << i;
}

TEST(Decoder, BatchedSequencesMatchSingle) {
  const auto model = load_stories();
  if (!model) GTEST_SKIP() << "needs ../shared/" << kStories;
  const auto n_vocab = static_cast<std::size_t>(model->hparams().n_vocab);
  const auto alone_a = run_greedy(*model, 2, kPromptA, 0);
  const auto alone_b = run_greedy(*model, 2, kPromptB, 0);

  core::ThreadPool pool(2);
  kernels::KernelContext kernels(pool);
  KvCache cache(model->hparams(), 64, 2);
  Decoder decoder(*model, cache, kernels);
  const SequenceInput inputs[] = {{1, kPromptB, true}, {0, kPromptA, true}};
  const auto together = decoder.decode(inputs);
  ASSERT_EQ(together.size(), (kPromptA.size() + kPromptB.size()) * n_vocab);
  for (std::size_t i = 0; i < alone_b.size(); ++i) ASSERT_EQ(together[i], alone_b[i]) << "B logit " << i;
  for (std::size_t i = 0; i < alone_a.size(); ++i) {
    ASSERT_EQ(together[alone_b.size() + i], alone_a[i]) << "A logit " << i;
  }
  EXPECT_EQ(cache.length(0), static_cast<std::int64_t>(kPromptA.size()));
  EXPECT_EQ(cache.length(1), static_cast<std::int64_t>(kPromptB.size()));

  // One decode step for both sequences at once equals two separate steps.
  const std::int32_t ta = 300;
  const std::int32_t tb = 301;
  const SequenceInput step_inputs[] = {{0, {&ta, 1}, false}, {1, {&tb, 1}, false}};
  const auto step = decoder.decode(step_inputs);
  ASSERT_EQ(step.size(), 2 * n_vocab);
  const std::vector<float> both(step.begin(), step.end());
  for (const auto& [seq, prompt, token] : {std::tuple{0, kPromptA, ta}, std::tuple{1, kPromptB, tb}}) {
    KvCache single_cache(model->hparams(), 64, 1);
    Decoder single(*model, single_cache, kernels);
    const SequenceInput first{0, prompt, false};
    single.decode({&first, 1});
    const SequenceInput next{0, {&token, 1}, false};
    const auto alone = single.decode({&next, 1});
    for (std::size_t i = 0; i < n_vocab; ++i) {
      ASSERT_EQ(both[static_cast<std::size_t>(seq) * n_vocab + i], alone[i]) << "seq " << seq << " logit " << i;
    }
  }
}

TEST(Decoder, PrefixCopyMatchesFullPrompt) {
  const auto model = load_stories();
  if (!model) GTEST_SKIP() << "needs ../shared/" << kStories;
  const auto n_vocab = static_cast<std::size_t>(model->hparams().n_vocab);
  const auto full = run_greedy(*model, 1, kPromptB, 0);

  core::ThreadPool pool(1);
  kernels::KernelContext kernels(pool);
  KvCache cache(model->hparams(), 64, 3);
  Decoder decoder(*model, cache, kernels);
  const SequenceInput whole{0, kPromptB, false};
  decoder.decode({&whole, 1});
  const std::size_t prefix = 4;
  cache.copy_prefix(0, 2, static_cast<std::int64_t>(prefix));
  EXPECT_EQ(cache.length(2), static_cast<std::int64_t>(prefix));

  const std::vector<std::int32_t> rest(kPromptB.begin() + prefix, kPromptB.end());
  const SequenceInput tail{2, rest, true};
  const auto logits = decoder.decode({&tail, 1});
  ASSERT_EQ(logits.size(), rest.size() * n_vocab);
  for (std::size_t i = 0; i < logits.size(); ++i) ASSERT_EQ(logits[i], full[prefix * n_vocab + i]) << i;
}

TEST(Decoder, RejectsPromptBeyondContext) {
  const auto model = load_stories();
  if (!model) GTEST_SKIP() << "needs ../shared/" << kStories;
  core::ThreadPool pool(1);
  kernels::KernelContext kernels(pool);
  KvCache cache(model->hparams(), 8, 1);
  Decoder decoder(*model, cache, kernels);
  const SequenceInput input{0, kPromptB, false};
  try {
    decoder.decode({&input, 1});
    FAIL() << "expected qrag::Error";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("11"), std::string::npos) << message;
    EXPECT_NE(message.find("context size 8"), std::string::npos) << message;
  }
  EXPECT_EQ(cache.length(0), 0);
}

TEST(Decoder, RejectsBadTokenAndRepeatedSequence) {
  const auto model = load_stories();
  if (!model) GTEST_SKIP() << "needs ../shared/" << kStories;
  core::ThreadPool pool(1);
  kernels::KernelContext kernels(pool);
  KvCache cache(model->hparams(), 16, 2);
  Decoder decoder(*model, cache, kernels);
  const std::int32_t bad = 512;
  const SequenceInput bad_input{0, {&bad, 1}, false};
  EXPECT_THROW(decoder.decode({&bad_input, 1}), Error);
  const SequenceInput twice[] = {{1, kPromptA, false}, {1, kPromptA, false}};
  EXPECT_THROW(decoder.decode(twice), Error);
  const SequenceInput out_of_range{2, kPromptA, false};
  EXPECT_THROW(decoder.decode({&out_of_range, 1}), Error);
}

TEST(Model, StoriesHparams) {
  const auto model = load_stories();
  if (!model) GTEST_SKIP() << "needs ../shared/" << kStories;
  const Hparams& hp = model->hparams();
  EXPECT_EQ(hp.arch, "llama");
  EXPECT_EQ(hp.n_vocab, 512);
  EXPECT_EQ(hp.n_embd, 64);
  EXPECT_EQ(hp.n_layer, 5);
  EXPECT_EQ(hp.n_head, 8);
  EXPECT_EQ(hp.n_head_kv, 4);
  EXPECT_EQ(hp.n_ff, 172);
  EXPECT_EQ(hp.head_dim, 8);
  EXPECT_EQ(hp.n_rot, 8);
  EXPECT_FALSE(model->weights().tied_output);
  EXPECT_TRUE(model->unused_tensors().empty());
  EXPECT_NEAR(model->bits_per_weight(), 32.0, 1e-9);
}

TEST(TensorLoader, ReportsShapeMismatch) {
  const auto path = testing::shared_file(kStories);
  if (!path) GTEST_SKIP() << "needs ../shared/" << kStories;
  const auto file = gguf::GgufFile::open(*path);
  TensorLoader loader(file);
  try {
    loader.matrix("blk.3.attn_k.weight", 64, 64);
    FAIL() << "expected qrag::Error";
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(), "tensor 'blk.3.attn_k.weight' has shape [64, 32], expected [64, 64]");
  }
  EXPECT_THROW(loader.matrix("blk.9.attn_k.weight", 64, 32), Error);
  EXPECT_THROW(loader.vector("output_norm.weight", 65), Error);
  loader.matrix("blk.3.attn_k.weight", 64, 32);
  const auto unused = loader.unused();
  EXPECT_EQ(unused.size(), file.tensors().size() - 1);
  EXPECT_EQ(std::count(unused.begin(), unused.end(), "blk.3.attn_k.weight"), 0);
}

TEST(Model, TinyRandomLlamaGenerates) {
  const auto path = testing::shared_file("models/tiny-random/llama-2-tiny-random.gguf");
  if (!path) GTEST_SKIP() << "needs ../shared/models/tiny-random/llama-2-tiny-random.gguf";
  const auto model = Model::load(*path);
  EXPECT_EQ(model->hparams().n_vocab, 32000);
  const auto out = run_greedy(*model, 2, {1, 15043, 3186}, 8);
  for (const float value : out) ASSERT_TRUE(std::isfinite(value));
}

}  // namespace
}  // namespace qrag::model
