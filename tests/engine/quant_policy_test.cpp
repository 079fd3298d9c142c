// Tests of the quantizer's per-tensor type choice: target names, fallbacks and mix recipes.
#include "engine/quant_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace qrag::engine {
namespace {

gguf::TensorInfo matrix(std::string name, std::int64_t ne0, std::int64_t ne1, GgmlType type = GgmlType::F32) {
  gguf::TensorInfo info;
  info.name = std::move(name);
  info.type = type;
  info.n_dims = 2;
  info.ne = {ne0, ne1, 1, 1};
  return info;
}

gguf::TensorInfo vector1d(std::string name, std::int64_t ne0, GgmlType type = GgmlType::F32) {
  gguf::TensorInfo info = matrix(std::move(name), ne0, 1, type);
  info.n_dims = 1;
  return info;
}

// A llama-like tensor list with n_layer blocks, n_embd 256 and n_ff 512.
std::vector<gguf::TensorInfo> llama_tensors(int n_layer, bool with_output = true) {
  std::vector<gguf::TensorInfo> tensors{matrix("token_embd.weight", 256, 64), vector1d("output_norm.weight", 256)};
  if (with_output) tensors.push_back(matrix("output.weight", 256, 64));
  for (int il = 0; il < n_layer; ++il) {
    const std::string blk = "blk." + std::to_string(il) + ".";
    tensors.push_back(vector1d(blk + "attn_norm.weight", 256));
    for (const char* name : {"attn_q", "attn_k", "attn_v", "attn_output"}) tensors.push_back(matrix(blk + name + ".weight", 256, 256));
    tensors.push_back(vector1d(blk + "ffn_norm.weight", 256));
    tensors.push_back(matrix(blk + "ffn_gate.weight", 256, 512));
    tensors.push_back(matrix(blk + "ffn_up.weight", 256, 512));
    tensors.push_back(matrix(blk + "ffn_down.weight", 512, 256));
  }
  return tensors;
}

GgmlType choose(const QuantPolicy& policy, const std::vector<gguf::TensorInfo>& tensors, const std::string& name) {
  for (const auto& info : tensors) {
    if (info.name == name) return policy.choose(info).type;
  }
  ADD_FAILURE() << "no tensor " << name;
  return GgmlType::F32;
}

TEST(QuantTarget, ParsesTypesAndMixes) {
  const auto q4km = parse_quant_target("q4_k_m");
  ASSERT_TRUE(q4km);
  EXPECT_EQ(q4km->name, "Q4_K_M");
  EXPECT_EQ(q4km->base_type, GgmlType::Q4_K);
  EXPECT_EQ(q4km->mix, Mix::kQ4_K_M);
  EXPECT_EQ(q4km->file_type, 15u);

  const auto q8 = parse_quant_target("Q8_0");
  ASSERT_TRUE(q8);
  EXPECT_EQ(q8->base_type, GgmlType::Q8_0);
  EXPECT_EQ(q8->mix, Mix::kNone);
  EXPECT_EQ(q8->file_type, 7u);

  EXPECT_EQ(parse_quant_target("bf16")->file_type, 32u);
  EXPECT_EQ(parse_quant_target("iq4_nl")->file_type, 25u);
  EXPECT_FALSE(parse_quant_target("q4_k_l"));
  EXPECT_FALSE(parse_quant_target(""));
}

TEST(QuantTarget, NamesAllParse) {
  const auto names = quant_target_names();
  EXPECT_EQ(names.size(), 19u);
  for (const auto& name : names) EXPECT_TRUE(parse_quant_target(name)) << name;
}

TEST(Fallback, ChainPerType) {
  EXPECT_EQ(fallback_type(GgmlType::Q4_K, 512), GgmlType::Q4_K);
  EXPECT_EQ(fallback_type(GgmlType::Q4_K, 288), GgmlType::Q5_0);
  EXPECT_EQ(fallback_type(GgmlType::Q5_K, 288), GgmlType::Q5_1);
  EXPECT_EQ(fallback_type(GgmlType::Q6_K, 288), GgmlType::Q8_0);
  EXPECT_EQ(fallback_type(GgmlType::Q3_K, 64), GgmlType::IQ4_NL);
  EXPECT_EQ(fallback_type(GgmlType::Q2_K, 64), GgmlType::IQ4_NL);
  EXPECT_EQ(fallback_type(GgmlType::Q4_K, 172), GgmlType::F16);
  EXPECT_EQ(fallback_type(GgmlType::Q8_0, 172), GgmlType::F16);
  EXPECT_EQ(fallback_type(GgmlType::Q4_0, 172), GgmlType::F16);
  EXPECT_EQ(fallback_type(GgmlType::Q4_0, 64), GgmlType::Q4_0);
  EXPECT_EQ(fallback_type(GgmlType::BF16, 7), GgmlType::BF16);
}

TEST(LayerIndex, ParsesBlockNames) {
  EXPECT_EQ(layer_index("blk.12.attn_v.weight"), 12);
  EXPECT_EQ(layer_index("blk.0.ffn_down.weight"), 0);
  EXPECT_FALSE(layer_index("output.weight"));
  EXPECT_FALSE(layer_index("blk.x.attn_v.weight"));
  EXPECT_FALSE(layer_index("blk.3"));
}

TEST(QuantPolicy, OneDimensionalStaysF32) {
  const auto tensors = llama_tensors(1);
  const QuantPolicy policy(*parse_quant_target("q4_0"), {}, tensors);
  const TensorChoice f32 = policy.choose(vector1d("blk.0.attn_norm.weight", 256));
  EXPECT_EQ(f32.type, GgmlType::F32);
  EXPECT_TRUE(f32.copy);
  const TensorChoice widened = policy.choose(vector1d("blk.0.attn_norm.weight", 256, GgmlType::F16));
  EXPECT_EQ(widened.type, GgmlType::F32);
  EXPECT_FALSE(widened.copy);
  const TensorChoice ints = policy.choose(vector1d("positions", 8, GgmlType::I32));
  EXPECT_EQ(ints.type, GgmlType::I32);
  EXPECT_TRUE(ints.copy);
}

TEST(QuantPolicy, PlainTypeForEveryMatrix) {
  const auto tensors = llama_tensors(4);
  const QuantPolicy policy(*parse_quant_target("q4_0"), {}, tensors);
  for (const auto& info : tensors) {
    const TensorChoice choice = policy.choose(info);
    EXPECT_EQ(choice.type, info.n_dims == 2 ? GgmlType::Q4_0 : GgmlType::F32) << info.name;
    EXPECT_FALSE(choice.fell_back) << info.name;
  }
}

TEST(QuantPolicy, FallbackIsRecorded) {
  const auto tensors = llama_tensors(1);
  const QuantPolicy policy(*parse_quant_target("q8_0"), {}, tensors);
  const TensorChoice choice = policy.choose(matrix("blk.0.ffn_down.weight", 172, 64));
  EXPECT_EQ(choice.wanted, GgmlType::Q8_0);
  EXPECT_EQ(choice.type, GgmlType::F16);
  EXPECT_TRUE(choice.fell_back);
  EXPECT_NE(choice.reason.find("172"), std::string::npos) << choice.reason;
}

TEST(QuantPolicy, Q4KMGivesHalfTheLayersQ6K) {
  const auto tensors = llama_tensors(4);
  const QuantPolicy policy(*parse_quant_target("q4_k_m"), {}, tensors);
  // With 4 layers the recipe selects layers 2 and 3 (the last eighth and every third after the first eighth).
  const std::vector<GgmlType> expected{GgmlType::Q4_K, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q6_K};
  for (int il = 0; il < 4; ++il) {
    const std::string blk = "blk." + std::to_string(il) + ".";
    EXPECT_EQ(choose(policy, tensors, blk + "attn_v.weight"), expected[il]) << il;
    EXPECT_EQ(choose(policy, tensors, blk + "ffn_down.weight"), expected[il]) << il;
    EXPECT_EQ(choose(policy, tensors, blk + "attn_q.weight"), GgmlType::Q4_K) << il;
    EXPECT_EQ(choose(policy, tensors, blk + "ffn_up.weight"), GgmlType::Q4_K) << il;
  }
  EXPECT_EQ(choose(policy, tensors, "output.weight"), GgmlType::Q6_K);
  EXPECT_EQ(choose(policy, tensors, "token_embd.weight"), GgmlType::Q4_K);
}

TEST(QuantPolicy, Q4KMSelectionOn32Layers) {
  const auto tensors = llama_tensors(32);
  const QuantPolicy policy(*parse_quant_target("q4_k_m"), {}, tensors);
  int n_q6k = 0;
  for (int il = 0; il < 32; ++il) {
    const bool more = il < 4 || il >= 28 || (il - 4) % 3 == 2;
    const GgmlType type = choose(policy, tensors, "blk." + std::to_string(il) + ".attn_v.weight");
    EXPECT_EQ(type, more ? GgmlType::Q6_K : GgmlType::Q4_K) << il;
    n_q6k += type == GgmlType::Q6_K;
  }
  EXPECT_EQ(n_q6k, 16);
}

TEST(QuantPolicy, TiedEmbeddingIsOutput) {
  const auto tensors = llama_tensors(2, /*with_output=*/false);
  const QuantPolicy policy(*parse_quant_target("q5_k_m"), {}, tensors);
  EXPECT_EQ(choose(policy, tensors, "token_embd.weight"), GgmlType::Q6_K);
  EXPECT_EQ(choose(policy, tensors, "blk.0.attn_q.weight"), GgmlType::Q5_K);
}

TEST(QuantPolicy, Q3KMAndQ4KSRecipes) {
  const auto tensors = llama_tensors(16);
  const QuantPolicy q3(*parse_quant_target("q3_k_m"), {}, tensors);
  EXPECT_EQ(choose(q3, tensors, "blk.0.attn_v.weight"), GgmlType::Q5_K);
  EXPECT_EQ(choose(q3, tensors, "blk.2.attn_v.weight"), GgmlType::Q4_K);
  EXPECT_EQ(choose(q3, tensors, "blk.0.ffn_down.weight"), GgmlType::Q5_K);
  EXPECT_EQ(choose(q3, tensors, "blk.1.ffn_down.weight"), GgmlType::Q4_K);
  EXPECT_EQ(choose(q3, tensors, "blk.5.attn_output.weight"), GgmlType::Q4_K);
  EXPECT_EQ(choose(q3, tensors, "blk.5.attn_q.weight"), GgmlType::Q3_K);

  const QuantPolicy q4s(*parse_quant_target("q4_k_s"), {}, tensors);
  EXPECT_EQ(choose(q4s, tensors, "blk.3.attn_v.weight"), GgmlType::Q5_K);
  EXPECT_EQ(choose(q4s, tensors, "blk.4.attn_v.weight"), GgmlType::Q4_K);
  EXPECT_EQ(choose(q4s, tensors, "blk.1.ffn_down.weight"), GgmlType::Q5_K);
  EXPECT_EQ(choose(q4s, tensors, "blk.2.ffn_down.weight"), GgmlType::Q4_K);
}

TEST(QuantPolicy, OptionsOverride) {
  const auto tensors = llama_tensors(2);
  PolicyOptions options;
  options.keep_output = true;
  options.token_embd_type = GgmlType::Q8_0;
  const QuantPolicy policy(*parse_quant_target("q4_k_m"), options, tensors);
  const TensorChoice output = policy.choose(matrix("output.weight", 256, 64, GgmlType::F16));
  EXPECT_EQ(output.type, GgmlType::F16);
  EXPECT_TRUE(output.copy);
  EXPECT_EQ(choose(policy, tensors, "token_embd.weight"), GgmlType::Q8_0);
}

}  // namespace
}  // namespace qrag::engine
