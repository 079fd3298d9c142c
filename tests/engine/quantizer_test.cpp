// Tests of `quantize_model`: fallbacks on stories260K, round-trip error per type, mixes, requantize guard, metadata.
#include "engine/quantizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/test_paths.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/imatrix.h"
#include "gguf/gguf_writer.h"
#include "model/model.h"
#include "tensor/quantize.h"

namespace qrag::engine {
namespace {

using gguf::GgufFile;
using ::testing::HasSubstr;

struct Shape {
  int n_layer = 4;
  std::int64_t n_embd = 256;
  std::int64_t n_ff = 512;
  std::int64_t n_vocab = 32;
};

// Deterministic N(0, 0.02)-like weights with a few larger outliers, per tensor name.
std::vector<float> weights(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    const float u = uniform(rng) + uniform(rng) + uniform(rng);  // roughly bell-shaped
    x[i] = 0.02f * u * ((i % 97 == 0) ? 4.0f : 1.0f);
  }
  return x;
}

// Writes a llama-like F32 model with GgufWriter: token_embd, output, norms, and
// per block attn_q/k/v/output [n_embd][n_embd], ffn_gate/up [n_ff][n_embd] and
// ffn_down [n_embd][n_ff] (ne[0] is the row length).
std::filesystem::path write_llama_like(const std::filesystem::path& path, const Shape& shape) {
  gguf::GgufWriter writer;
  writer.add_metadata("general.architecture", gguf::Value{std::string("llama")});
  writer.add_metadata("general.name", gguf::Value{std::string("synthetic")});
  writer.add_metadata("llama.block_count", gguf::Value{static_cast<std::uint32_t>(shape.n_layer)});
  const auto add = [&](const std::string& name, std::vector<std::int64_t> ne) {
    writer.add_tensor(name, GgmlType::F32, ne);
  };
  add("token_embd.weight", {shape.n_embd, shape.n_vocab});
  add("output_norm.weight", {shape.n_embd});
  add("output.weight", {shape.n_embd, shape.n_vocab});
  for (int il = 0; il < shape.n_layer; ++il) {
    const std::string blk = "blk." + std::to_string(il) + ".";
    add(blk + "attn_norm.weight", {shape.n_embd});
    for (const char* name : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
      add(blk + name + ".weight", {shape.n_embd, shape.n_embd});
    }
    add(blk + "ffn_norm.weight", {shape.n_embd});
    add(blk + "ffn_gate.weight", {shape.n_embd, shape.n_ff});
    add(blk + "ffn_up.weight", {shape.n_embd, shape.n_ff});
    add(blk + "ffn_down.weight", {shape.n_ff, shape.n_embd});
  }
  std::uint32_t seed = 1;
  writer.write_file(path, [&](const gguf::TensorInfo& info, gguf::ByteSink& out) {
    std::vector<float> x = weights(static_cast<std::size_t>(info.n_elements()), seed++);
    if (info.n_dims == 1) std::fill(x.begin(), x.end(), 1.0f);
    out.write({reinterpret_cast<const std::uint8_t*>(x.data()), x.size() * sizeof(float)});
  });
  return path;
}

std::vector<float> dequantized(const GgufFile& file, const gguf::TensorInfo& info) {
  std::vector<float> x(static_cast<std::size_t>(info.n_elements()));
  tensor::dequantize_row(info.type, file.tensor_data(info).data(), x.data(), info.n_elements());
  return x;
}

QuantizeOptions options_for(std::string_view target) {
  QuantizeOptions options;
  options.target = *parse_quant_target(target);
  return options;
}

const TensorReport& report_row(const QuantizeReport& report, std::string_view name) {
  for (const auto& row : report.tensors) {
    if (row.name == name) return row;
  }
  throw std::runtime_error("no row " + std::string(name));
}

// Bits of the integer codes of each quantized type. Rounding moves an element by at
// most half a code step, and clamping at the edge of the signed range by one step,
// amax_row / (2^(bits-1) - 1). The tolerance adds the F16 rounding of the block scales.
int code_bits(GgmlType type) {
  switch (type) {
    case GgmlType::Q8_0: return 8;
    case GgmlType::Q6_K: return 6;
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
    case GgmlType::Q5_K: return 5;
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q4_K:
    case GgmlType::IQ4_NL: return 4;
    case GgmlType::Q3_K: return 3;
    case GgmlType::Q2_K: return 2;
    default: return 0;
  }
}

double element_tolerance(GgmlType type, float amax_row, float value) {
  constexpr double kF16Epsilon = 0.0009765625;  // 2^-10, F16 spacing at 1
  if (type == GgmlType::F32) return 0.0;
  if (type == GgmlType::F16) return std::abs(value) * kF16Epsilon / 2 + 6e-8;  // 6e-8: F16 subnormal spacing
  if (type == GgmlType::BF16) return std::abs(value) * 0.0078125 / 2;        // 2^-7: BF16 spacing at 1
  const int bits = code_bits(type);
  const double step = amax_row / ((1 << (bits - 1)) - 1);
  return step * (1.0 + kF16Epsilon) + amax_row * kF16Epsilon;
}

// Checks every matrix of `out` against `in` element by element.
void expect_close(const GgufFile& in, const GgufFile& out) {
  for (const auto& out_info : out.tensors()) {
    const auto& in_info = in.tensor(out_info.name);
    const std::vector<float> x = dequantized(in, in_info);
    const std::vector<float> q = dequantized(out, out_info);
    const std::int64_t ne0 = out_info.ne[0];
    int n_bad = 0;
    for (std::int64_t r = 0; r < out_info.n_rows() && n_bad < 3; ++r) {
      float amax = 0.0f;
      for (std::int64_t j = 0; j < ne0; ++j) amax = std::max(amax, std::abs(x[r * ne0 + j]));
      for (std::int64_t j = 0; j < ne0; ++j) {
        const float xi = x[r * ne0 + j];
        const double err = std::abs(static_cast<double>(q[r * ne0 + j]) - xi);
        if (err > element_tolerance(out_info.type, amax, xi)) {
          ADD_FAILURE() << out_info.name << " (" << gguf::type_name(out_info.type) << ") row " << r << " col " << j
                        << ": " << q[r * ne0 + j] << " vs " << xi << ", amax " << amax;
          if (++n_bad >= 3) break;
        }
      }
    }
  }
}

class QuantizerTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = qrag::testing::make_temp_dir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(QuantizerTest, StoriesFallbacks) {
  const auto stories = qrag::testing::shared_file("models/stories260K/stories260K.gguf");
  if (!stories) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
  core::ThreadPool pool(2);
  for (const char* target : {"q8_0", "q4_0"}) {
    const auto out_path = dir_ / (std::string(target) + ".gguf");
    const QuantizeReport report = quantize_model(*stories, out_path, options_for(target), &pool);
    const GgmlType type = parse_quant_target(target)->base_type;
    int n_fallback = 0;
    for (const auto& row : report.tensors) n_fallback += row.choice.fell_back ? 1 : 0;
    const GgufFile in = GgufFile::open(*stories);
    const GgufFile out = GgufFile::open(out_path);
    for (const auto& info : in.tensors()) {
      const auto& row = report_row(report, info.name);
      const auto& out_info = out.tensor(info.name);
      EXPECT_EQ(out_info.type, row.type_out) << info.name;
      if (info.n_dims < 2) {
        EXPECT_EQ(row.type_out, GgmlType::F32) << info.name;
      } else if (info.ne[0] == 172) {
        EXPECT_EQ(row.type_out, GgmlType::F16) << info.name;
        EXPECT_TRUE(row.choice.fell_back) << info.name;
      } else {
        EXPECT_EQ(row.type_out, type) << info.name;
        EXPECT_FALSE(row.choice.fell_back) << info.name;
      }
    }
    EXPECT_EQ(n_fallback, 5) << target;  // ffn_down of each of the 5 layers
    EXPECT_LT(report.bytes_out, report.bytes_in / 2);
    expect_close(in, out);
    EXPECT_EQ(out.get_uint("general.file_type"), parse_quant_target(target)->file_type);
    EXPECT_EQ(out.get_uint("general.quantization_version"), 2u);
    EXPECT_EQ(out.find("qrag.quantized_from"), nullptr);
    EXPECT_EQ(out.get_string("general.architecture"), "llama");
    const auto model = model::Model::load(out_path);
    EXPECT_EQ(model->hparams().n_layer, 5);
  }
}

TEST_F(QuantizerTest, RoundTripWithinTypeTolerance) {
  Shape shape;
  shape.n_layer = 1;
  shape.n_ff = 256;
  const auto in_path = write_llama_like(dir_ / "in.gguf", shape);
  const GgufFile in = GgufFile::open(in_path);
  for (const char* target : {"f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k",
                             "q6_k", "iq4_nl"}) {
    SCOPED_TRACE(target);
    const auto out_path = dir_ / (std::string(target) + ".gguf");
    const QuantizeReport report = quantize_model(in_path, out_path, options_for(target), nullptr);
    const GgufFile out = GgufFile::open(out_path);
    EXPECT_EQ(out.tensor("blk.0.attn_q.weight").type, parse_quant_target(target)->base_type);
    EXPECT_EQ(out.tensor("blk.0.attn_norm.weight").type, GgmlType::F32);
    expect_close(in, out);
  }
}

TEST_F(QuantizerTest, MixOnSyntheticFile) {
  Shape shape;
  shape.n_ff = 288;  // a multiple of 32 but not of 256: ffn_down rows fall back
  const auto in_path = write_llama_like(dir_ / "in.gguf", shape);
  const auto out_path = dir_ / "q4_k_m.gguf";
  core::ThreadPool pool(2);
  const QuantizeReport report = quantize_model(in_path, out_path, options_for("q4_k_m"), &pool);
  const GgufFile out = GgufFile::open(out_path);
  // Layers 2 and 3 of 4 get more bits; ffn_down's 288-long rows move Q4_K -> Q5_0 and Q6_K -> Q8_0.
  for (int il = 0; il < shape.n_layer; ++il) {
    const std::string blk = "blk." + std::to_string(il) + ".";
    const bool more = il >= 2;
    EXPECT_EQ(out.tensor(blk + "attn_v.weight").type, more ? GgmlType::Q6_K : GgmlType::Q4_K) << il;
    EXPECT_EQ(out.tensor(blk + "ffn_down.weight").type, more ? GgmlType::Q8_0 : GgmlType::Q5_0) << il;
    EXPECT_TRUE(report_row(report, blk + "ffn_down.weight").choice.fell_back) << il;
    EXPECT_EQ(out.tensor(blk + "attn_k.weight").type, GgmlType::Q4_K) << il;
    EXPECT_EQ(out.tensor(blk + "ffn_gate.weight").type, GgmlType::Q4_K) << il;
    EXPECT_EQ(out.tensor(blk + "ffn_norm.weight").type, GgmlType::F32) << il;
  }
  EXPECT_EQ(out.tensor("output.weight").type, GgmlType::Q6_K);
  EXPECT_EQ(out.tensor("token_embd.weight").type, GgmlType::Q4_K);
  EXPECT_EQ(out.get_uint("general.file_type"), 15u);
  EXPECT_EQ(out.get_string("general.name"), "synthetic");
  expect_close(GgufFile::open(in_path), out);
  // Bits per weight: between Q4_K (4.5) and Q6_K (6.5625) for the matrices, F32 norms add a little.
  EXPECT_GT(report.bits_per_weight_out(), 4.5);
  EXPECT_LT(report.bits_per_weight_out(), 6.5625);
}

TEST_F(QuantizerTest, RequantizeGuardAndChain) {
  Shape shape;
  shape.n_layer = 1;
  const auto in_path = write_llama_like(dir_ / "in.gguf", shape);
  const auto q41_path = dir_ / "q4_1.gguf";
  quantize_model(in_path, q41_path, options_for("q4_1"), nullptr);

  const auto q8_path = dir_ / "q8_0.gguf";
  try {
    quantize_model(q41_path, q8_path, options_for("q8_0"), nullptr);
    ADD_FAILURE() << "requantizing Q4_1 to Q8_0 did not throw";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("--allow-requantize"));
    EXPECT_THAT(error.what(), HasSubstr("Q4_1"));
  }
  EXPECT_FALSE(std::filesystem::exists(q8_path));

  QuantizeOptions allow = options_for("q8_0");
  allow.allow_requantize = true;
  quantize_model(q41_path, q8_path, allow, nullptr);
  EXPECT_EQ(GgufFile::open(q8_path).get_string("qrag.quantized_from"), "Q4_1");

  // Widening needs no flag and is recorded; quantizing the widened file keeps the chain.
  const auto f16_path = dir_ / "f16.gguf";
  const QuantizeReport widened = quantize_model(q41_path, f16_path, options_for("f16"), nullptr);
  ASSERT_TRUE(widened.quantized_from);
  EXPECT_EQ(*widened.quantized_from, "Q4_1");
  const GgufFile f16 = GgufFile::open(f16_path);
  EXPECT_EQ(f16.get_string("qrag.quantized_from"), "Q4_1");
  EXPECT_EQ(f16.tensor("blk.0.attn_q.weight").type, GgmlType::F16);
  // Widening is exact up to F16 rounding of each Q4_1 value.
  expect_close(GgufFile::open(q41_path), f16);

  const auto again_path = dir_ / "again.gguf";
  quantize_model(f16_path, again_path, options_for("q4_0"), nullptr);
  EXPECT_EQ(GgufFile::open(again_path).get_string("qrag.quantized_from"), "F16 <- Q4_1");

  // The same type again copies the bytes and needs no flag.
  const auto same_path = dir_ / "same.gguf";
  const QuantizeReport same = quantize_model(q41_path, same_path, options_for("q4_1"), nullptr);
  EXPECT_TRUE(report_row(same, "blk.0.attn_q.weight").choice.copy);
  const GgufFile q41 = GgufFile::open(q41_path);
  const GgufFile copy = GgufFile::open(same_path);
  const auto a = q41.tensor_data(q41.tensor("blk.0.attn_q.weight"));
  const auto b = copy.tensor_data(copy.tensor("blk.0.attn_q.weight"));
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size()), 0);
}

TEST_F(QuantizerTest, NanNamesTensor) {
  gguf::GgufWriter writer;
  const std::vector<std::int64_t> ne{32, 2};
  writer.add_tensor("blk.0.attn_q.weight", GgmlType::F32, ne);
  const auto in_path = dir_ / "nan.gguf";
  writer.write_file(in_path, [](const gguf::TensorInfo&, gguf::ByteSink& out) {
    std::vector<float> x(64, 0.5f);
    x[40] = std::nanf("");
    out.write({reinterpret_cast<const std::uint8_t*>(x.data()), x.size() * sizeof(float)});
  });
  const auto out_path = dir_ / "out.gguf";
  try {
    quantize_model(in_path, out_path, options_for("q8_0"), nullptr);
    ADD_FAILURE() << "NaN weight did not throw";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("blk.0.attn_q.weight"));
  }
  EXPECT_FALSE(std::filesystem::exists(out_path));
}

TEST_F(QuantizerTest, ImatrixChangesWeightedTypes) {
  Shape shape;
  shape.n_layer = 1;
  const auto in_path = write_llama_like(dir_ / "in.gguf", shape);
  // Importance concentrated on the first 16 columns of attn_q.
  Imatrix imatrix;
  imatrix.dataset = "synthetic";
  imatrix.n_tokens = 10;
  std::vector<float> importance(static_cast<std::size_t>(shape.n_embd), 0.01f);
  std::fill(importance.begin(), importance.begin() + 16, 100.0f);
  imatrix.values["blk.0.attn_q.weight"] = importance;
  const auto imatrix_path = dir_ / "imatrix.gguf";
  imatrix.save(imatrix_path);

  QuantizeOptions weighted = options_for("q4_k");
  weighted.imatrix = imatrix_path;
  const QuantizeReport report = quantize_model(in_path, dir_ / "weighted.gguf", weighted, nullptr);
  EXPECT_TRUE(report_row(report, "blk.0.attn_q.weight").used_imatrix);
  EXPECT_FALSE(report_row(report, "blk.0.attn_k.weight").used_imatrix);
  quantize_model(in_path, dir_ / "plain.gguf", options_for("q4_k"), nullptr);

  const GgufFile in = GgufFile::open(in_path);
  const GgufFile with = GgufFile::open(dir_ / "weighted.gguf");
  const GgufFile without = GgufFile::open(dir_ / "plain.gguf");
  EXPECT_EQ(with.get_string("quantize.imatrix.dataset"), "synthetic");
  // The weighted error on the important columns must not exceed the unweighted one.
  const auto x = dequantized(in, in.tensor("blk.0.attn_q.weight"));
  const auto qw = dequantized(with, with.tensor("blk.0.attn_q.weight"));
  const auto qp = dequantized(without, without.tensor("blk.0.attn_q.weight"));
  double err_weighted = 0.0;
  double err_plain = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double w = importance[i % importance.size()];
    err_weighted += w * (qw[i] - x[i]) * (qw[i] - x[i]);
    err_plain += w * (qp[i] - x[i]) * (qp[i] - x[i]);
  }
  EXPECT_LT(err_weighted, err_plain);
  EXPECT_NE(std::memcmp(with.tensor_data(with.tensor("blk.0.attn_q.weight")).data(),
                        without.tensor_data(without.tensor("blk.0.attn_q.weight")).data(),
                        with.tensor("blk.0.attn_q.weight").n_bytes),
            0);
}

TEST_F(QuantizerTest, ImatrixLengthMismatch) {
  Shape shape;
  shape.n_layer = 1;
  const auto in_path = write_llama_like(dir_ / "in.gguf", shape);
  Imatrix imatrix;
  imatrix.values["blk.0.attn_q.weight"] = std::vector<float>(100, 1.0f);
  imatrix.save(dir_ / "imatrix.gguf");
  QuantizeOptions options = options_for("q4_k");
  options.imatrix = dir_ / "imatrix.gguf";
  try {
    quantize_model(in_path, dir_ / "out.gguf", options, nullptr);
    ADD_FAILURE() << "mismatched importance length did not throw";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("blk.0.attn_q.weight"));
    EXPECT_THAT(error.what(), HasSubstr("100"));
  }
}

}  // namespace
}  // namespace qrag::engine
