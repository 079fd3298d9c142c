// qwen2 and gemma3 decoders against an independent numpy forward pass
// (scripts/goldens/make_decoder_goldens.py).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/test_paths.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "kernels/kernels.h"
#include "model/decoder.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/sampler.h"
#include "tokenizer/tokenizer.h"

namespace qrag::model {
namespace {

// Tolerance. The reference applies ggml's roundings (8-bit activation blocks, F16
// Q/K/V) in float64 and records "noise_effect": how far its logits move when every
// matmul input and output is perturbed by float32 rounding noise of a length-K
// reduction (relative N(0, (sqrt(K) eps)^2)). qrag computes in float32 with the same
// quantized weights and roundings, so it may differ from the reference by that much
// and no more is allowed. A wrong RoPE pairing, bias, norm, window or activation
// moves logits by whole units and fails.
constexpr double kNoiseEffectMultiple = 1.0;

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in)
    throw Error("failed to open " + path.string() + " (written by scripts/goldens/make_decoder_goldens.py)");
  return nlohmann::json::parse(in);
}

struct Runner {
  explicit Runner(const Model& model, std::int64_t n_ctx = 64, int n_seq = 1)
      : pool(2), kernels(pool), cache(model.hparams(), n_ctx, n_seq), decoder(model, cache, kernels) {}
  core::ThreadPool pool;
  kernels::KernelContext kernels;
  KvCache cache;
  Decoder decoder;
};

// Follows the reference's greedy continuation, feeding its tokens so that one close
// call does not derail the rest. qrag's argmax must equal the reference's token at
// every step whose top-2 gap exceeds twice the tolerance, because only there must
// the two runs agree. `first` is qrag's argmax before step 0. Returns the steps checked.
int check_greedy(Decoder& decoder, std::int32_t first, const nlohmann::json& steps, double tolerance,
                 const std::string& label) {
  std::int32_t predicted = first;
  int checked = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const auto expected = steps[i].at("token").get<std::int32_t>();
    if (steps[i].at("gap").get<double>() > 2 * tolerance) {
      EXPECT_EQ(predicted, expected) << label << " greedy step " << i;
      ++checked;
    }
    const SequenceInput next{0, {&expected, 1}, false};
    predicted = argmax(decoder.decode({&next, 1}));
  }
  return checked;
}

void check_tiny_goldens(const std::string& arch) {
  const auto model = Model::load(testing::test_data("gguf/tiny-" + arch + ".gguf"));
  const nlohmann::json golden = read_json(testing::test_data("goldens/tiny-" + arch + "-logits.json"));
  const auto n_vocab = static_cast<std::size_t>(model->hparams().n_vocab);
  Runner run(*model);
  for (const auto& sequence : golden.at("sequences")) {
    const auto tokens = sequence.at("tokens").get<std::vector<std::int32_t>>();
    const auto expected = sequence.at("logits").get<std::vector<std::vector<double>>>();
    const double tolerance = kNoiseEffectMultiple * sequence.at("noise_effect").get<double>();
    const std::string label = arch + " sequence of " + std::to_string(tokens.size());
    run.cache.clear(0);
    const SequenceInput input{0, tokens, true};
    const auto logits = run.decoder.decode({&input, 1});
    ASSERT_EQ(logits.size(), tokens.size() * n_vocab);
    double max_error = 0.0;
    for (std::size_t p = 0; p < tokens.size(); ++p) {
      for (std::size_t v = 0; v < n_vocab; ++v) {
        const double error = std::fabs(logits[p * n_vocab + v] - expected[p][v]);
        max_error = std::max(max_error, error);
        ASSERT_LE(error, tolerance) << label << " position " << p << " token " << v;
      }
    }
    const int checked =
        check_greedy(run.decoder, argmax(logits.subspan((tokens.size() - 1) * n_vocab, n_vocab)),
                     sequence.at("greedy"), tolerance, label);
    std::printf("%s: max logit error %.6f (tolerance %.6f), %d greedy steps checked\n", label.c_str(),
                max_error, tolerance, checked);
  }
}

TEST(Qwen2, TinyMatchesNumpyReference) {
  check_tiny_goldens("qwen2");
}

TEST(Gemma3, TinyMatchesNumpyReference) {
  check_tiny_goldens("gemma3");
}

TEST(Qwen2, TinyHparamsAndWeights) {
  const auto model = Model::load(testing::test_data("gguf/tiny-qwen2.gguf"));
  const Hparams& hp = model->hparams();
  EXPECT_EQ(model->arch().name, "qwen2");
  EXPECT_EQ(hp.rope_mode, kernels::RopeMode::kNeox);
  EXPECT_EQ(hp.n_vocab, 128);
  EXPECT_EQ(hp.head_dim, 16);
  EXPECT_FLOAT_EQ(hp.attn_scale, 0.25f);
  EXPECT_FLOAT_EQ(hp.embd_scale, 1.0f);
  EXPECT_EQ(hp.n_swa, 0);
  EXPECT_TRUE(model->weights().tied_output);
  EXPECT_NE(model->weights().layers[1].bq, nullptr);
  EXPECT_NE(model->weights().layers[1].bv, nullptr);
  EXPECT_EQ(model->weights().layers[1].attn_q_norm, nullptr);
  EXPECT_TRUE(model->unused_tensors().empty());
}

TEST(Gemma3, TinyHparamsAndWeights) {
  const auto model = Model::load(testing::test_data("gguf/tiny-gemma3.gguf"));
  const Hparams& hp = model->hparams();
  EXPECT_EQ(hp.rope_mode, kernels::RopeMode::kNeox);
  EXPECT_EQ(hp.head_dim, 48);
  EXPECT_EQ(hp.n_embd_q(), 96);
  EXPECT_FLOAT_EQ(hp.attn_scale, 1.0f / std::sqrt(48.0f));
  EXPECT_FLOAT_EQ(hp.embd_scale, 8.0f);
  EXPECT_FLOAT_EQ(hp.final_logit_softcap, 10.0f);
  EXPECT_EQ(hp.n_swa, 4);
  for (std::int64_t il = 0; il < 5; ++il) EXPECT_TRUE(hp.is_swa(il)) << il;
  EXPECT_FALSE(hp.is_swa(5));
  EXPECT_FLOAT_EQ(hp.rope_freq_base, 1e6f);
  EXPECT_FLOAT_EQ(hp.rope_freq_scale, 0.5f);
  EXPECT_FLOAT_EQ(hp.rope_freq_base_swa, 10000.0f);
  EXPECT_FLOAT_EQ(hp.rope_freq_scale_swa, 1.0f);
  EXPECT_TRUE(model->weights().tied_output);
  EXPECT_NE(model->weights().layers[0].post_ffw_norm, nullptr);
  EXPECT_EQ(model->weights().layers[0].bq, nullptr);
  EXPECT_TRUE(model->unused_tensors().empty());
}

// Token-by-token decoding reads the sliding window from the cache; it must give
// the logits of the whole-prompt pass within the reference tolerance.
TEST(Gemma3, IncrementalDecodeMatchesReference) {
  const auto model = Model::load(testing::test_data("gguf/tiny-gemma3.gguf"));
  const nlohmann::json golden = read_json(testing::test_data("goldens/tiny-gemma3-logits.json"));
  const auto& sequence = golden.at("sequences").at(0);
  const auto tokens = sequence.at("tokens").get<std::vector<std::int32_t>>();
  const auto expected = sequence.at("logits").get<std::vector<std::vector<double>>>();
  const double tolerance = kNoiseEffectMultiple * sequence.at("noise_effect").get<double>();
  ASSERT_GT(tokens.size(), static_cast<std::size_t>(model->hparams().n_swa));
  Runner run(*model);
  for (std::size_t p = 0; p < tokens.size(); ++p) {
    const SequenceInput input{0, {&tokens[p], 1}, false};
    const auto logits = run.decoder.decode({&input, 1});
    for (std::size_t v = 0; v < logits.size(); ++v) {
      ASSERT_NEAR(logits[v], expected[p][v], tolerance) << "position " << p << " token " << v;
    }
  }
}

TEST(Gemma3, BatchedSequencesMatchSingle) {
  const auto model = Model::load(testing::test_data("gguf/tiny-gemma3.gguf"));
  const std::vector<std::int32_t> a = {1, 5, 9, 17, 33, 65, 127, 2, 40};
  const std::vector<std::int32_t> b = {100, 3, 100, 3, 64};
  std::vector<float> alone;
  for (const auto* tokens : {&a, &b}) {
    Runner single(*model);
    const SequenceInput input{0, *tokens, true};
    const auto logits = single.decoder.decode({&input, 1});
    alone.insert(alone.end(), logits.begin(), logits.end());
  }
  Runner both(*model, 64, 2);
  const SequenceInput inputs[] = {{0, a, true}, {1, b, true}};
  const auto together = both.decoder.decode(inputs);
  ASSERT_EQ(together.size(), alone.size());
  for (std::size_t i = 0; i < alone.size(); ++i) ASSERT_EQ(together[i], alone[i]) << "logit " << i;
}

// Writes a copy of `src` to `dst` in which `edit` may reshape a tensor (ne) or drop it (returns false).
void write_edited_copy(
    const gguf::GgufFile& src, const std::filesystem::path& dst,
    const std::function<bool(const std::string& name, std::vector<std::int64_t>& ne)>& edit) {
  gguf::GgufWriter writer;
  for (const gguf::KeyValue& kv : src.metadata()) {
    if (kv.key != "general.alignment") writer.add_metadata(kv.key, kv.value);
  }
  for (const gguf::TensorInfo& info : src.tensors()) {
    std::vector<std::int64_t> ne(info.ne.begin(), info.ne.begin() + info.n_dims);
    if (edit(info.name, ne)) writer.add_tensor(info.name, info.type, ne);
  }
  writer.write_file(dst, [](const gguf::TensorInfo& info, gguf::ByteSink& out) {
    const std::vector<std::uint8_t> zeros(info.n_bytes, 0);
    out.write(zeros);
  });
}

std::string load_error(const std::filesystem::path& path) {
  try {
    Model::load(path);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(Gemma3, RejectsWrongNormShape) {
  const auto src = gguf::GgufFile::open(testing::test_data("gguf/tiny-gemma3.gguf"));
  const auto path = testing::make_temp_dir() / "bad-q-norm.gguf";
  write_edited_copy(src, path, [](const std::string& name, std::vector<std::int64_t>& ne) {
    if (name == "blk.2.attn_q_norm.weight") ne = {32};
    return true;
  });
  const std::string message = load_error(path);
  EXPECT_NE(message.find("tensor 'blk.2.attn_q_norm.weight' has shape [32], expected [48]"),
            std::string::npos)
      << message;
}

TEST(Gemma3, RejectsMissingPostNorm) {
  const auto src = gguf::GgufFile::open(testing::test_data("gguf/tiny-gemma3.gguf"));
  const auto path = testing::make_temp_dir() / "no-post-norm.gguf";
  write_edited_copy(src, path, [](const std::string& name, std::vector<std::int64_t>&) {
    return name != "blk.4.post_ffw_norm.weight";
  });
  const std::string message = load_error(path);
  EXPECT_NE(message.find("tensor 'blk.4.post_ffw_norm.weight' not found, expected shape [64]"),
            std::string::npos)
      << message;
}

TEST(Qwen2, RejectsMissingBias) {
  const auto src = gguf::GgufFile::open(testing::test_data("gguf/tiny-qwen2.gguf"));
  const auto path = testing::make_temp_dir() / "no-bias.gguf";
  write_edited_copy(src, path, [](const std::string& name, std::vector<std::int64_t>&) {
    return name != "blk.1.attn_k.bias";
  });
  const std::string message = load_error(path);
  EXPECT_NE(message.find("tensor 'blk.1.attn_k.bias' not found, expected shape [32]"), std::string::npos)
      << message;
}

// ---- Gemma 3 270M (Q4_K_M) -----------------------------------------------------

std::filesystem::path gemma3_270m_path() {
  return testing::source_dir() / "models" / "gemma-3-270m-q4_k_m.gguf";
}

TEST(Gemma3_270M, MatchesNumpyReference) {
  const auto model_path = gemma3_270m_path();
  if (!std::filesystem::exists(model_path)) GTEST_SKIP() << "needs " << model_path << " (scripts/setup.sh)";
  const nlohmann::json golden = read_json(testing::test_data("goldens/gemma3-270m-logits.json"));
  const auto model = Model::load(model_path);
  EXPECT_EQ(model->hparams().n_swa, 512);
  EXPECT_TRUE(model->hparams().is_swa(4));
  EXPECT_FALSE(model->hparams().is_swa(5));
  Runner run(*model);

  for (const auto& prompt : golden.at("prompts")) {
    const std::string name = prompt.at("name").get<std::string>();
    const auto tokens = prompt.at("tokens").get<std::vector<std::int32_t>>();
    const double tolerance = kNoiseEffectMultiple * prompt.at("noise_effect").get<double>();
    run.cache.clear(0);
    const SequenceInput input{0, tokens, false};
    const auto row = run.decoder.decode({&input, 1});
    const auto ids = prompt.at("top_ids").get<std::vector<std::int32_t>>();
    const auto values = prompt.at("top_logits").get<std::vector<double>>();
    double max_error = 0.0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const double error = std::fabs(row[ids[i]] - values[i]);
      max_error = std::max(max_error, error);
      ASSERT_LE(error, tolerance) << name << " token " << ids[i];
    }
    // Statistics of the whole 262k row: mean and standard deviation move by at
    // most the per-logit tolerance, and so does log-sum-exp.
    double sum = 0.0;
    double sum_sq = 0.0;
    for (const float v : row) {
      sum += v;
      sum_sq += static_cast<double>(v) * v;
    }
    const double mean = sum / static_cast<double>(row.size());
    const double std_dev = std::sqrt(std::max(0.0, sum_sq / static_cast<double>(row.size()) - mean * mean));
    EXPECT_NEAR(mean, prompt.at("mean").get<double>(), tolerance) << name;
    EXPECT_NEAR(std_dev, prompt.at("std").get<double>(), tolerance) << name;
    std::vector<float> logprobs(row.size());
    log_softmax(row, logprobs);
    EXPECT_NEAR(row[ids[0]] - logprobs[ids[0]], prompt.at("logsumexp").get<double>(), tolerance) << name;
    const int checked = check_greedy(run.decoder, argmax(row), prompt.at("greedy"), tolerance, name);
    std::printf("%s: max top-%zu logit error %.4f (tolerance %.4f), %d greedy steps checked\n", name.c_str(),
                ids.size(), max_error, tolerance, checked);
  }
}

TEST(Gemma3_270M, TokenizerMatchesReferenceIds) {
  const auto model_path = gemma3_270m_path();
  if (!std::filesystem::exists(model_path)) GTEST_SKIP() << "needs " << model_path << " (scripts/setup.sh)";
  const nlohmann::json golden = read_json(testing::test_data("goldens/gemma3-270m-logits.json"));
  const auto file = gguf::GgufFile::open(model_path);
  const auto tokenizer = tokenizer::Tokenizer::from_gguf(file);
  for (const auto& prompt : golden.at("prompts")) {
    EXPECT_EQ(tokenizer.encode(prompt.at("text").get<std::string>(), true, true),
              prompt.at("tokens").get<std::vector<std::int32_t>>())
        << prompt.at("name").get<std::string>();
  }
}

}  // namespace
}  // namespace qrag::model
