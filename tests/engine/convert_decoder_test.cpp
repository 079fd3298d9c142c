// `convert` of tiny llama and qwen2 Hugging Face checkpoints (scripts/goldens/make_hf_checkpoints.py):
// logits against a numpy forward pass, tokenization against the HF tokenizers package, metadata, errors.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/test_paths.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/converter.h"
#include "engine/safetensors.h"
#include "gguf/gguf_file.h"
#include "kernels/kernels.h"
#include "model/decoder.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace qrag::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Tolerance. The reference runs in float64 and rounds Q, K and V to float16 as qrag's
// F16 KV cache does, so the F16 cache costs no tolerance of its own. qrag computes in
// float32: the script records as "noise_effect" how far the reference logits move under
// float32-sized relative noise (sqrt(K) * eps_f32) on every matmul input and output,
// which also covers K/V values that round to a different F16 neighbor. A wrong Q/K
// permutation, bias or tied output moves logits by whole units.
constexpr double kNoiseEffectMultiple = 1.0;

json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error("failed to open " + path.string() + " (written by scripts/goldens/make_hf_checkpoints.py)");
  return json::parse(in);
}

// Copies tests/data/hf/<name> into a fresh temporary folder that a test may modify.
fs::path copy_checkpoint(const std::string& name) {
  const fs::path dir = testing::make_temp_dir() / name;
  fs::copy(testing::test_data("hf/" + name), dir, fs::copy_options::recursive);
  return dir;
}

void edit_config(const fs::path& dir, const std::string& key, const json& value) {
  json config = read_json(dir / "config.json");
  config[key] = value;
  std::ofstream(dir / "config.json") << config.dump();
}

std::string convert_error(const fs::path& dir, const ConvertOptions& options = {}) {
  try {
    convert_hf_to_gguf(dir, dir.parent_path() / "error.gguf", options);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

fs::path convert_tiny(const std::string& name) {
  const fs::path out = testing::make_temp_dir() / (name + ".gguf");
  convert_hf_to_gguf(testing::test_data("hf/" + name), out, {});
  return out;
}

void check_logits(const std::string& name) {
  const auto model = model::Model::load(convert_tiny(name));
  const json expected = read_json(testing::test_data("hf/" + name + "/expected.json"));
  const auto n_vocab = static_cast<std::size_t>(model->hparams().n_vocab);
  core::ThreadPool pool(2);
  kernels::KernelContext kernels(pool);
  model::KvCache cache(model->hparams(), 64, 1);
  model::Decoder decoder(*model, cache, kernels);
  for (const json& sequence : expected.at("sequences")) {
    const auto tokens = sequence.at("tokens").get<std::vector<std::int32_t>>();
    const auto rows = sequence.at("logits").get<std::vector<std::vector<double>>>();
    const auto first = sequence.at("first_position").get<std::size_t>();
    const double tolerance = kNoiseEffectMultiple * sequence.at("noise_effect").get<double>();
    cache.clear(0);
    const model::SequenceInput input{0, tokens, true};
    const auto logits = decoder.decode({&input, 1});
    ASSERT_EQ(logits.size(), tokens.size() * n_vocab);
    ASSERT_EQ(first + rows.size(), tokens.size());
    for (std::size_t r = 0; r < rows.size(); ++r) {
      ASSERT_EQ(rows[r].size(), n_vocab);
      for (std::size_t v = 0; v < n_vocab; ++v) {
        ASSERT_NEAR(logits[(first + r) * n_vocab + v], rows[r][v], tolerance)
            << name << " '" << sequence.at("text").get<std::string>() << "' position " << first + r << " token " << v;
      }
    }
  }
}

void check_tokenization(const std::string& name) {
  const gguf::GgufFile file = gguf::GgufFile::open(convert_tiny(name));
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_gguf(file);
  const json expected = read_json(testing::test_data("hf/" + name + "/expected.json"));
  for (const json& c : expected.at("tokenize")) {
    const auto text = c.at("text").get<std::string>();
    EXPECT_EQ(tok.encode(text, false, false), c.at("ids").get<std::vector<std::int32_t>>()) << name << ": " << text;
  }
}

TEST(ConvertDecoder, LlamaLogitsMatchReference) { check_logits("llama-tiny"); }

TEST(ConvertDecoder, Qwen2LogitsMatchReference) { check_logits("qwen2-tiny"); }

TEST(ConvertDecoder, LlamaTokenizationMatchesHf) { check_tokenization("llama-tiny"); }

TEST(ConvertDecoder, Qwen2TokenizationMatchesHf) { check_tokenization("qwen2-tiny"); }

TEST(ConvertDecoder, LlamaMetadataAndPermutation) {
  const gguf::GgufFile file = gguf::GgufFile::open(convert_tiny("llama-tiny"));
  EXPECT_EQ(file.architecture(), "llama");
  EXPECT_EQ(file.get_uint("llama.attention.head_count_kv"), 2u);
  EXPECT_EQ(file.get_uint("llama.context_length"), 128u);
  EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(file.get_string("tokenizer.ggml.pre"), "llama-bpe");
  EXPECT_EQ(file.find_bool("tokenizer.ggml.add_bos_token"), true);
  const std::vector<std::string> tokens = file.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 303u);
  EXPECT_EQ(tokens[file.get_uint("tokenizer.ggml.bos_token_id")], "<|begin_of_text|>");
  EXPECT_EQ(tokens[file.get_uint("tokenizer.ggml.eos_token_id")], "<|eot_id|>");  // tokenizer_config.json wins
  EXPECT_NE(file.find_tensor("output.weight"), nullptr);

  // GGUF row h*8 + 2j + r of attn_q comes from HF row h*8 + 4r + j (head size 8).
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(testing::test_data("hf/llama-tiny"));
  const std::vector<float> hf = ckpt.read_f32(*ckpt.find("model.layers.1.self_attn.q_proj.weight"));
  const gguf::TensorInfo& info = file.tensor("blk.1.attn_q.weight");
  ASSERT_EQ(info.type, gguf::GgmlType::F32);
  const auto* q = reinterpret_cast<const float*>(file.tensor_data(info).data());
  for (int h = 0; h < 4; ++h) {
    for (int j = 0; j < 4; ++j) {
      for (int r = 0; r < 2; ++r) {
        EXPECT_EQ(q[(h * 8 + 2 * j + r) * 32 + 5], hf[(h * 8 + 4 * r + j) * 32 + 5]) << h << " " << j << " " << r;
      }
    }
  }
}

TEST(ConvertDecoder, Qwen2MetadataFromAllConfigs) {
  const gguf::GgufFile file = gguf::GgufFile::open(convert_tiny("qwen2-tiny"));
  EXPECT_EQ(file.architecture(), "qwen2");
  EXPECT_EQ(file.get_string("tokenizer.ggml.pre"), "qwen2");
  EXPECT_EQ(file.find_bool("tokenizer.ggml.add_bos_token"), false);
  EXPECT_EQ(file.find_tensor("output.weight"), nullptr);  // tie_word_embeddings
  EXPECT_NE(file.find_tensor("blk.0.attn_q.bias"), nullptr);
  const std::vector<std::string> tokens = file.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 320u);  // 303 tokenizer tokens padded to config.json vocab_size
  EXPECT_EQ(tokens[319], "[PAD319]");
  EXPECT_EQ(file.get_int_array("tokenizer.ggml.token_type")[319], 5);  // unused
  EXPECT_EQ(tokens[file.get_uint("tokenizer.ggml.bos_token_id")], "<|endoftext|>");   // config.json
  EXPECT_EQ(tokens[file.get_uint("tokenizer.ggml.eos_token_id")], "<|im_end|>");      // tokenizer_config.json
  EXPECT_EQ(tokens[file.get_uint("tokenizer.ggml.padding_token_id")], "<|endoftext|>");  // generation_config.json
  EXPECT_NE(file.get_string("tokenizer.chat_template").find("<|im_start|>"), std::string::npos);
}

// llama-tiny weights with a SentencePiece-style tokenizer.json (BPE with byte_fallback).
TEST(ConvertDecoder, SentencePieceStyleTokenizer) {
  const fs::path dir = copy_checkpoint("llama-tiny");
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
    fs::copy_file(testing::test_data(std::string("hf/llama-spm-tokenizer/") + name), dir / name,
                  fs::copy_options::overwrite_existing);
  }
  const fs::path out = dir.parent_path() / "spm.gguf";
  convert_hf_to_gguf(dir, out, {});
  const gguf::GgufFile file = gguf::GgufFile::open(out);
  EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(file.find("tokenizer.ggml.pre"), nullptr);
  EXPECT_EQ(file.find_bool("tokenizer.ggml.add_space_prefix"), true);
  EXPECT_EQ(file.get_uint("tokenizer.ggml.unknown_token_id"), 0u);
  EXPECT_EQ(file.get_uint("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(file.get_uint("tokenizer.ggml.eos_token_id"), 2u);
  const std::vector<std::int64_t> types = file.get_int_array("tokenizer.ggml.token_type");
  EXPECT_EQ(types[0], 2);    // <unk>: unknown
  EXPECT_EQ(types[1], 3);    // <s>: control
  EXPECT_EQ(types[3], 6);    // <0x00>: byte
  EXPECT_EQ(types[300], 1);  // a learned piece: normal

  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_gguf(file);
  const json expected = read_json(testing::test_data("hf/llama-spm-tokenizer/expected.json"));
  for (const json& c : expected.at("tokenize")) {
    const auto text = c.at("text").get<std::string>();
    EXPECT_EQ(tok.encode(text, false, false), c.at("ids").get<std::vector<std::int32_t>>()) << text;
  }
  const std::vector<std::int32_t> with_bos = tok.encode("the fox", true, false);
  ASSERT_FALSE(with_bos.empty());
  EXPECT_EQ(with_bos[0], 1);
}

TEST(ConvertDecoder, MistralConvertsAsLlama) {
  const fs::path dir = copy_checkpoint("llama-tiny");
  edit_config(dir, "model_type", "mistral");
  const ConvertSummary summary = convert_hf_to_gguf(dir, dir.parent_path() / "mistral.gguf", {});
  EXPECT_EQ(summary.architecture, "llama");
  EXPECT_EQ(summary.n_tokens, 303u);
}

TEST(ConvertDecoder, MissingConfigNamesFile) {
  const fs::path dir = copy_checkpoint("qwen2-tiny");
  fs::remove(dir / "config.json");
  EXPECT_NE(convert_error(dir).find("config.json: file not found"), std::string::npos) << convert_error(dir);
}

TEST(ConvertDecoder, UnsupportedModelTypeNamesIt) {
  const fs::path dir = copy_checkpoint("qwen2-tiny");
  edit_config(dir, "model_type", "gpt_neox");
  EXPECT_NE(convert_error(dir).find("model_type 'gpt_neox' is not supported"), std::string::npos);
}

TEST(ConvertDecoder, MissingTensorNamesIt) {
  const fs::path dir = copy_checkpoint("llama-tiny");
  edit_config(dir, "num_hidden_layers", 3);
  const std::string error = convert_error(dir);
  EXPECT_NE(error.find("'model.layers.2.input_layernorm.weight'"), std::string::npos) << error;
  EXPECT_NE(error.find("blk.2.attn_norm.weight"), std::string::npos) << error;
}

TEST(ConvertDecoder, UnknownPreTokenizerNeedsPre) {
  const fs::path dir = copy_checkpoint("qwen2-tiny");
  edit_config(dir, "model_type", "llama");  // the Qwen2 regex is not the Llama 3 one
  EXPECT_NE(convert_error(dir).find("--pre"), std::string::npos);
  ConvertOptions options;
  options.pre = "qwen2";
  EXPECT_EQ(convert_error(dir, options), "");
  options.pre = "no-such-pre";
  EXPECT_NE(convert_error(dir, options).find("unknown BPE pre-tokenizer 'no-such-pre'"), std::string::npos);
}

TEST(ConvertDecoder, MissingTokenizerJsonNamesIt) {
  const fs::path dir = copy_checkpoint("qwen2-tiny");
  fs::remove(dir / "tokenizer.json");
  EXPECT_NE(convert_error(dir).find("tokenizer.json: file not found"), std::string::npos);
}

TEST(ConvertDecoder, VocabSizeMismatchNamesTensor) {
  const fs::path dir = copy_checkpoint("qwen2-tiny");
  edit_config(dir, "vocab_size", 200);
  EXPECT_NE(convert_error(dir).find("'model.embed_tokens.weight': shape [320, 32]"), std::string::npos)
      << convert_error(dir);
}

}  // namespace
}  // namespace qrag::engine
