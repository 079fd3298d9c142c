// Tests for the safetensors reader and `convert` on tiny synthetic BERT checkpoints written here.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/test_paths.h"
#include "core/error.h"
#include "engine/converter.h"
#include "engine/safetensors.h"
#include "gguf/gguf_file.h"
#include "tensor/fp16.h"
#include "tensor/quantize.h"

namespace qrag::engine {
namespace {

namespace fs = std::filesystem;
using testing::make_temp_dir;
using testing::source_dir;
using testing::test_data;
using nlohmann::json;

constexpr int kEmbd = 32, kFf = 64, kCtx = 8, kLayers = 1;
const std::vector<std::string> kVocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "##lo", "world"};

struct Tensor {
  std::string name;
  std::vector<std::int64_t> shape;  // PyTorch order
  std::vector<float> values;
};

// Deterministic values, distinct per tensor so a swapped name shows up.
Tensor make(const std::string& name, std::vector<std::int64_t> shape, int seed) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  Tensor t{name, std::move(shape), {}};
  for (std::int64_t i = 0; i < n; ++i) t.values.push_back(std::sin(0.37f * static_cast<float>(i) + 1.3f * seed));
  return t;
}

std::vector<Tensor> bert_tensors(const std::string& prefix) {
  std::vector<Tensor> ts;
  int seed = 0;
  const auto add = [&](const std::string& n, std::vector<std::int64_t> s) { ts.push_back(make(prefix + n, s, ++seed)); };
  add("embeddings.word_embeddings.weight", {static_cast<std::int64_t>(kVocab.size()), kEmbd});
  add("embeddings.position_embeddings.weight", {kCtx, kEmbd});
  add("embeddings.token_type_embeddings.weight", {2, kEmbd});
  add("embeddings.LayerNorm.weight", {kEmbd});
  add("embeddings.LayerNorm.bias", {kEmbd});
  for (int il = 0; il < kLayers; ++il) {
    const std::string l = "encoder.layer." + std::to_string(il) + ".";
    for (const char* n : {"attention.self.query.", "attention.self.key.", "attention.self.value.", "attention.output.dense."}) {
      add(l + n + "weight", {kEmbd, kEmbd});
      add(l + n + "bias", {kEmbd});
    }
    for (const char* n : {"attention.output.LayerNorm.", "output.LayerNorm."}) {
      add(l + n + "weight", {kEmbd});
      add(l + n + "bias", {kEmbd});
    }
    add(l + "intermediate.dense.weight", {kFf, kEmbd});
    add(l + "intermediate.dense.bias", {kFf});
    add(l + "output.dense.weight", {kEmbd, kFf});
    add(l + "output.dense.bias", {kEmbd});
  }
  add("pooler.dense.weight", {kEmbd, kEmbd});  // unused by the encoder: must be skipped
  return ts;
}

// Writes F32 (or F16) tensors in the safetensors layout; returns the header JSON.
void write_safetensors(const fs::path& path, const std::vector<Tensor>& ts, bool f16 = false,
                       bool position_ids = true) {
  json header = json::object();
  header["__metadata__"] = {{"format", "pt"}};
  std::vector<std::uint8_t> data;
  for (const auto& t : ts) {
    const std::size_t begin = data.size();
    for (float v : t.values) {
      if (f16) {
        const std::uint16_t h = tensor::fp32_to_fp16(v);
        data.insert(data.end(), reinterpret_cast<const std::uint8_t*>(&h), reinterpret_cast<const std::uint8_t*>(&h) + 2);
      } else {
        data.insert(data.end(), reinterpret_cast<const std::uint8_t*>(&v), reinterpret_cast<const std::uint8_t*>(&v) + 4);
      }
    }
    header[t.name] = {{"dtype", f16 ? "F16" : "F32"}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
  }
  if (position_ids) {
    header["embeddings.position_ids"] = {{"dtype", "I64"}, {"shape", {1, 1}}, {"data_offsets", {data.size(), data.size() + 8}}};
    data.resize(data.size() + 8, 0);
  }
  const std::string text = header.dump();
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t len = text.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

fs::path write_checkpoint(const fs::path& dir, const std::string& prefix = "bert.") {
  fs::create_directories(dir / "1_Pooling");
  json config = {{"model_type", "bert"}, {"hidden_size", kEmbd}, {"num_hidden_layers", kLayers},
                 {"num_attention_heads", 2}, {"intermediate_size", kFf}, {"max_position_embeddings", kCtx},
                 {"type_vocab_size", 2}, {"layer_norm_eps", 1e-12}, {"hidden_act", "gelu"}};
  write_text(dir / "config.json", config.dump());
  std::string vocab;
  for (const auto& t : kVocab) vocab += t + "\n";
  write_text(dir / "vocab.txt", vocab);
  write_text(dir / "1_Pooling" / "config.json", R"({"pooling_mode_cls_token": true})");
  write_safetensors(dir / "model.safetensors", bert_tensors(prefix));
  return dir;
}

std::vector<float> tensor_values(const gguf::GgufFile& file, const std::string& name) {
  const gguf::TensorInfo& info = file.tensor(name);
  std::vector<float> out(static_cast<std::size_t>(info.n_elements()));
  tensor::dequantize_row(info.type, file.tensor_data(info).data(), out.data(), info.n_elements());
  return out;
}

std::string convert_error(const fs::path& dir) {
  try {
    convert_hf_to_gguf(dir, dir.parent_path() / "x.gguf", {});
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Converter, F32KeepsMetadataAndValues) {
  const fs::path dir = write_checkpoint(make_temp_dir() / "hf");
  const fs::path out = dir.parent_path() / "out.gguf";
  const ConvertSummary summary = convert_hf_to_gguf(dir, out, {});
  EXPECT_EQ(summary.pooling, PoolingType::kCls);
  EXPECT_EQ(summary.n_tensors, 5u + 16u * kLayers);

  const gguf::GgufFile file = gguf::GgufFile::open(out);
  EXPECT_EQ(file.architecture(), "bert");
  EXPECT_EQ(file.get_uint("bert.embedding_length"), 32u);
  EXPECT_EQ(file.get_uint("bert.feed_forward_length"), 64u);
  EXPECT_EQ(file.get_uint("bert.context_length"), 8u);
  EXPECT_EQ(file.get_uint("bert.block_count"), 1u);
  EXPECT_EQ(file.get_uint("bert.attention.head_count"), 2u);
  EXPECT_EQ(file.get_uint("bert.pooling_type"), 2u);
  EXPECT_FLOAT_EQ(static_cast<float>(file.get_float("bert.attention.layer_norm_epsilon")), 1e-12f);
  EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "bert");
  const auto tokens = file.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), kVocab.size());
  EXPECT_EQ(tokens[0], "[PAD]");
  EXPECT_EQ(tokens[5], "\xE2\x96\x81hello");
  EXPECT_EQ(tokens[6], "lo");
  EXPECT_EQ(file.get_uint("tokenizer.ggml.cls_token_id"), 2u);
  EXPECT_EQ(file.get_uint("tokenizer.ggml.seperator_token_id"), 3u);
  EXPECT_EQ(file.get_uint("tokenizer.ggml.mask_token_id"), 4u);
  EXPECT_EQ(file.find_tensor("pooler.dense.weight"), nullptr);

  const auto reference = bert_tensors("bert.");
  const gguf::TensorInfo& up = file.tensor("blk.0.ffn_up.weight");
  EXPECT_EQ(up.ne[0], kEmbd);
  EXPECT_EQ(up.ne[1], kFf);
  EXPECT_EQ(tensor_values(file, "token_embd.weight"), reference[0].values);
  EXPECT_EQ(tensor_values(file, "blk.0.attn_k.weight"), reference[7].values);
  EXPECT_EQ(tensor_values(file, "blk.0.layer_output_norm.bias"), reference[16].values);
}

TEST(Converter, Q8_0WithinHalfStep) {
  const fs::path dir = write_checkpoint(make_temp_dir() / "hf", "");
  const fs::path out = dir.parent_path() / "q8.gguf";
  ConvertOptions options;
  options.type = gguf::GgmlType::Q8_0;
  options.pooling = PoolingType::kMean;
  EXPECT_EQ(convert_hf_to_gguf(dir, out, options).pooling, PoolingType::kMean);
  const gguf::GgufFile file = gguf::GgufFile::open(out);
  EXPECT_EQ(file.tensor("blk.0.attn_q.weight").type, gguf::GgmlType::Q8_0);
  EXPECT_EQ(file.tensor("blk.0.attn_q.bias").type, gguf::GgmlType::F32);
  const auto reference = bert_tensors("");
  const auto got = tensor_values(file, "blk.0.attn_q.weight");
  ASSERT_EQ(got.size(), reference[5].values.size());
  for (std::size_t b = 0; b < got.size(); b += 32) {
    float amax = 0;
    for (std::size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(reference[5].values[i]));
    // Half a quantization step (amax/127/2) plus the fp16 rounding of the scale (2^-11 relative) over 127 steps.
    const float tol = amax / 127.0f * (0.5f + 127.0f * 0x1p-11f);
    for (std::size_t i = b; i < b + 32; ++i) ASSERT_NEAR(got[i], reference[5].values[i], tol) << "element " << i;
  }
}

TEST(Converter, ShardedIndexAndF16Source) {
  const fs::path dir = write_checkpoint(make_temp_dir() / "hf", "");
  fs::remove(dir / "model.safetensors");
  const auto all = bert_tensors("");
  const std::vector<Tensor> first(all.begin(), all.begin() + 6), second(all.begin() + 6, all.end());
  const std::string name1 = "model-00001-of-00002.safetensors", name2 = "model-00002-of-00002.safetensors";
  write_safetensors(dir / name1, first, /*f16=*/true, /*position_ids=*/false);
  write_safetensors(dir / name2, second);
  json index = {{"weight_map", json::object()}};
  for (const auto& t : first) index["weight_map"][t.name] = name1;
  for (const auto& t : second) index["weight_map"][t.name] = name2;
  write_text(dir / "model.safetensors.index.json", index.dump());

  const fs::path out = dir.parent_path() / "sharded.gguf";
  convert_hf_to_gguf(dir, out, {});
  const gguf::GgufFile file = gguf::GgufFile::open(out);
  // Shard one was F16: the GGUF holds the widened values exactly.
  const auto embd = tensor_values(file, "token_embd.weight");
  ASSERT_EQ(embd.size(), all[0].values.size());
  for (std::size_t i = 0; i < embd.size(); ++i) {
    EXPECT_EQ(embd[i], tensor::fp16_to_fp32(tensor::fp32_to_fp16(all[0].values[i]))) << "element " << i;
  }
  EXPECT_EQ(tensor_values(file, "blk.0.ffn_down.weight"), all[19].values);

  // A tensor stored in two shards is rejected.
  write_safetensors(dir / name1, first, /*f16=*/true, /*position_ids=*/true);
  EXPECT_NE(convert_error(dir).find("more than one shard"), std::string::npos);
}

// Writes raw bytes: an 8-byte header length, a header text and `data_bytes` zero bytes.
fs::path write_raw(const fs::path& path, std::uint64_t len, const std::string& header, std::size_t data_bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << header << std::string(data_bytes, '\0');
  return path;
}

std::string open_error(const fs::path& path) {
  try {
    SafetensorsCheckpoint::open(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, MalformedFilesNameTheFault) {
  const fs::path dir = make_temp_dir();
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_EQ(open_error(write_raw(dir / "ok.safetensors", ok.size(), ok, 8)), "");
  EXPECT_NE(open_error(write_raw(dir / "long.safetensors", 1000, ok, 8)).find("header length 1000"), std::string::npos);
  const std::string bad_json = "{\"a\":";
  EXPECT_NE(open_error(write_raw(dir / "json.safetensors", bad_json.size(), bad_json, 0)).find("not a valid JSON"),
            std::string::npos);
  EXPECT_NE(open_error(write_raw(dir / "past.safetensors", ok.size(), ok, 4)).find("outside the data section"),
            std::string::npos);
  const std::string size = R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
  EXPECT_NE(open_error(write_raw(dir / "size.safetensors", size.size(), size, 8)).find("needs 12"), std::string::npos);
  const std::string dtype = R"({"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_NE(open_error(write_raw(dir / "dtype.safetensors", dtype.size(), dtype, 8)).find("unknown dtype 'Q9'"),
            std::string::npos);
  const std::string shape = R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})";
  EXPECT_NE(open_error(write_raw(dir / "shape.safetensors", shape.size(), shape, 8)).find("tensor 'a'"),
            std::string::npos);
  std::ofstream(dir / "tiny.safetensors") << "abc";
  EXPECT_NE(open_error(dir / "tiny.safetensors").find("too short"), std::string::npos);
  EXPECT_NE(open_error(dir / "nowhere").find("not found"), std::string::npos);
}

TEST(Converter, MissingPiecesAreNamed) {
  const fs::path dir = write_checkpoint(make_temp_dir() / "hf");
  fs::remove(dir / "vocab.txt");
  EXPECT_NE(convert_error(dir).find("vocab.txt"), std::string::npos);

  const fs::path other = write_checkpoint(make_temp_dir() / "other");
  write_text(other / "config.json", R"({"model_type": "t5"})");
  EXPECT_NE(convert_error(other).find("model_type 't5' is not supported"), std::string::npos);

  const fs::path no_field = write_checkpoint(make_temp_dir() / "nofield");
  write_text(no_field / "config.json", R"({"model_type": "bert", "hidden_size": 32})");
  EXPECT_NE(convert_error(no_field).find("num_hidden_layers"), std::string::npos);

  const fs::path missing = write_checkpoint(make_temp_dir() / "missing");
  auto ts = bert_tensors("bert.");
  ts.erase(ts.begin() + 10);  // blk.0.attn_v.bias
  write_safetensors(missing / "model.safetensors", ts);
  EXPECT_NE(convert_error(missing).find("blk.0.attn_v.bias"), std::string::npos);
  EXPECT_FALSE(fs::exists(missing.parent_path() / "x.gguf"));
}

}  // namespace
}  // namespace qrag::engine
