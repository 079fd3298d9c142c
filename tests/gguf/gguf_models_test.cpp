// The reader on real files: the shared models and vocabularies (skipped when
// ../shared is absent) and the fixtures written by gguf-py
// (scripts/goldens/make_tiny_gguf.py), checked against that writer's own record.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>

#include "common/test_paths.h"
#include "gguf/gguf_file.h"
#include "gguf/model_summary.h"

namespace qrag::gguf {
namespace {

using json = nlohmann::ordered_json;

std::size_t count_type(const ModelSummary& s, GgmlType type) {
  for (const TypeCount& c : s.tensor_types) {
    if (c.type == type) return c.n_tensors;
  }
  return 0;
}

// Expected values come from the model card in ../shared/README.md and from
// gguf-py's GGUFReader (sum of n_elements and n_bytes over the tensors).
TEST(SharedModels, Stories260K) {
  const auto path = qrag::testing::shared_file("models/stories260K/stories260K.gguf");
  if (!path) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
  const GgufFile file = GgufFile::open(*path);
  const ModelSummary s = summarize(file);
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.tensors().size(), 48u);
  EXPECT_EQ(count_type(s, GgmlType::F32), 48u);
  EXPECT_EQ(s.tensor_types.size(), 1u);
  EXPECT_EQ(s.architecture, "llama");
  EXPECT_EQ(s.n_layer, 5u);
  EXPECT_EQ(s.n_embd, 64u);
  EXPECT_EQ(s.n_head, 8u);
  EXPECT_EQ(s.n_head_kv, 4u);
  EXPECT_EQ(s.n_ff, 172u);
  EXPECT_EQ(s.vocab_size, 512u);
  EXPECT_EQ(s.context_length, 128u);
  EXPECT_EQ(s.tokenizer_model, "llama");
  EXPECT_EQ(s.file_type, std::nullopt);
  EXPECT_EQ(s.n_params, 292800u);
  EXPECT_EQ(s.tensor_bytes, 1171200u);
  EXPECT_DOUBLE_EQ(s.bits_per_weight, 32.0);
  EXPECT_TRUE(s.warnings.empty());
  EXPECT_EQ(file.data_offset(), 14176u);
  const TensorInfo& ffn = file.tensor("blk.0.ffn_down.weight");
  EXPECT_EQ(ffn.n_dims, 2);
  EXPECT_EQ(ffn.ne[0], 172);
  EXPECT_EQ(ffn.ne[1], 64);
  EXPECT_EQ(file.tensor("token_embd.weight").n_bytes, 64u * 512u * 4u);
  EXPECT_EQ(file.get_string_array("tokenizer.ggml.tokens")[1], "<s>");
  EXPECT_FLOAT_EQ(static_cast<float>(file.get_float("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
}

TEST(SharedModels, Stories260KF16) {
  const auto path = qrag::testing::shared_file("models/stories260K/stories260K-f16.gguf");
  if (!path) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K-f16.gguf";
  const ModelSummary s = summarize(GgufFile::open(*path));
  EXPECT_EQ(count_type(s, GgmlType::F16), 37u);
  EXPECT_EQ(count_type(s, GgmlType::F32), 11u);
  EXPECT_EQ(s.n_layer, 5u);
  EXPECT_EQ(s.n_embd, 64u);
  EXPECT_EQ(s.vocab_size, 512u);
  EXPECT_EQ(s.file_type, 1u);
  EXPECT_EQ(file_type_name(*s.file_type), "MOSTLY_F16");
  EXPECT_EQ(s.n_params, 292800u);
  EXPECT_EQ(s.tensor_bytes, 587008u);
  EXPECT_NEAR(s.bits_per_weight, 587008.0 * 8 / 292800.0, 1e-12);
}

TEST(SharedModels, TinyRandomLlama) {
  const auto path = qrag::testing::shared_file("models/tiny-random/llama-2-tiny-random.gguf");
  if (!path) GTEST_SKIP() << "needs ../shared/models/tiny-random/llama-2-tiny-random.gguf";
  const ModelSummary s = summarize(GgufFile::open(*path));
  EXPECT_EQ(s.n_embd, 8u);
  EXPECT_EQ(s.n_layer, 1u);
  EXPECT_EQ(s.n_head, 2u);
  EXPECT_EQ(s.vocab_size, 32000u);
  EXPECT_EQ(count_type(s, GgmlType::F16), 9u);
  EXPECT_EQ(count_type(s, GgmlType::F32), 3u);
  EXPECT_EQ(s.n_params, 513048u);
}

TEST(SharedModels, VocabularyOnlyFiles) {
  const std::pair<const char*, std::uint64_t> files[] = {
      {"ggml-vocab-llama-spm.gguf", 32000},  {"ggml-vocab-phi-3.gguf", 32064},   {"ggml-vocab-bert-bge.gguf", 30522},
      {"ggml-vocab-gpt-2.gguf", 50257},      {"ggml-vocab-falcon.gguf", 65024},  {"ggml-vocab-deepseek-llm.gguf", 102400},
      {"ggml-vocab-llama3.gguf", 128256},    {"ggml-vocab-qwen2.gguf", 151669}};
  int found = 0;
  for (const auto& [name, vocab] : files) {
    const auto path = qrag::testing::shared_file(std::string("models/vocab/") + name);
    if (!path) continue;
    ++found;
    SCOPED_TRACE(name);
    const GgufFile file = GgufFile::open(*path);
    const ModelSummary s = summarize(file);
    EXPECT_TRUE(file.tensors().empty());
    EXPECT_EQ(s.vocab_size, vocab);
    EXPECT_EQ(file.get_string_array("tokenizer.ggml.tokens").size(), vocab);
    EXPECT_FALSE(s.tokenizer_model.empty());
    EXPECT_EQ(s.n_params, 0u);
    EXPECT_TRUE(s.warnings.empty());
  }
  if (found == 0) GTEST_SKIP() << "needs ../shared/models/vocab";
}

// ---- fixtures written by gguf-py ----

std::uint64_t fnv1a64(std::span<const std::uint8_t> bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::uint8_t b : bytes) h = (h ^ b) * 0x100000001b3ull;
  return h;
}

// IEEE binary16 to double (exact), for checking decoded values.
double half_to_double(std::uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 31) return mantissa ? NAN : sign * INFINITY;
  return sign * std::ldexp(mantissa + 1024, exponent - 25);
}

template <typename T>
T load(std::span<const std::uint8_t> bytes, std::size_t index) {
  T value;
  std::memcpy(&value, bytes.data() + index * sizeof(T), sizeof(T));
  return value;
}

double element(const TensorInfo& info, std::span<const std::uint8_t> bytes, std::size_t i) {
  switch (info.type) {
    case GgmlType::F32: return load<float>(bytes, i);
    case GgmlType::F16: return half_to_double(load<std::uint16_t>(bytes, i));
    case GgmlType::F64: return load<double>(bytes, i);
    case GgmlType::I32: return load<std::int32_t>(bytes, i);
    case GgmlType::Q8_0: {  // block: f16 scale d, then 32 int8; weight = d * q
      const double d = half_to_double(load<std::uint16_t>(bytes, 0));
      return d * static_cast<std::int8_t>(bytes[2 + i]);
    }
    default: throw std::runtime_error("type not used by the fixtures");
  }
}

// Compares one metadata value with gguf-py's record {"type", "value"} or
// {"type": "array", "element_type", "values"}.
void expect_value(const Value& value, const json& want, const std::string& where) {
  SCOPED_TRACE(where);
  ASSERT_EQ(std::string(value_type_name(value.type())), want["type"].get<std::string>());
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, Array>) {
          EXPECT_EQ(std::string(value_type_name(v.element_type)), want["element_type"].get<std::string>());
          const json& items = want["values"];
          ASSERT_EQ(v.items.size(), items.size());
          for (std::size_t k = 0; k < items.size(); ++k) {
            const json item = v.element_type == ValueType::ARRAY
                                  ? items[k]
                                  : json{{"type", want["element_type"]}, {"value", items[k]}};
            expect_value(v.items[k], item, where + "[" + std::to_string(k) + "]");
          }
        } else if constexpr (std::is_same_v<T, float>) {
          EXPECT_EQ(static_cast<double>(v), want["value"].get<double>());  // recorded as the float32 value
        } else {
          EXPECT_EQ(v, want["value"].get<T>());
        }
      },
      value.storage);
}

void expect_matches_record(const std::string& stem) {
  const GgufFile file = GgufFile::open(qrag::testing::test_data("gguf/" + stem + ".gguf"));
  std::ifstream in(qrag::testing::test_data("gguf/" + stem + ".expected.json"));
  ASSERT_TRUE(in) << "missing " << stem << ".expected.json; run scripts/goldens/make_tiny_gguf.py";
  const json want = json::parse(in);
  const json& metadata = want["metadata"];
  ASSERT_EQ(file.metadata().size(), metadata.size());
  std::size_t i = 0;
  for (const auto& [key, record] : metadata.items()) {  // in the order gguf-py wrote them
    EXPECT_EQ(file.metadata()[i].key, key);
    const Value* value = file.find(key);
    ASSERT_NE(value, nullptr) << key;
    expect_value(*value, record, key);
    ++i;
  }
  const json& tensors = want["tensors"];
  ASSERT_EQ(file.tensors().size(), tensors.size());
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    const TensorInfo& info = file.tensors()[t];
    const json& record = tensors[t];
    SCOPED_TRACE(info.name);
    EXPECT_EQ(info.name, record["name"].get<std::string>());
    EXPECT_EQ(std::string(type_name(info.type)), record["type"].get<std::string>());
    const auto shape = record["shape"].get<std::vector<std::int64_t>>();
    ASSERT_EQ(info.n_dims, static_cast<int>(shape.size()));
    for (std::size_t j = 0; j < shape.size(); ++j) EXPECT_EQ(info.ne[j], shape[j]);
    EXPECT_EQ(info.n_bytes, record["n_bytes"].get<std::uint64_t>());
    const auto bytes = file.tensor_data(info);
    EXPECT_EQ(fmt::format("{:016x}", fnv1a64(bytes)), record["fnv1a64"].get<std::string>());
    const auto first = record["first_values"].get<std::vector<double>>();
    for (std::size_t k = 0; k < first.size(); ++k) EXPECT_EQ(element(info, bytes, k), first[k]) << "element " << k;
  }
}

TEST(GgufPyFixtures, TinyLlamaMatchesTheIndependentWriter) {
  expect_matches_record("tiny-llama");
  const GgufFile file = GgufFile::open(qrag::testing::test_data("gguf/tiny-llama.gguf"));
  const ModelSummary s = summarize(file);
  EXPECT_LT(file.file_size(), 100u * 1024u);
  EXPECT_EQ(s.architecture, "llama");
  EXPECT_EQ(s.name, "tiny-llama");
  EXPECT_EQ(s.n_layer, 2u);
  EXPECT_EQ(s.n_embd, 16u);
  EXPECT_EQ(s.n_head, 4u);
  EXPECT_EQ(s.n_head_kv, 2u);
  EXPECT_EQ(s.n_ff, 32u);
  EXPECT_EQ(s.context_length, 256u);
  EXPECT_EQ(s.vocab_size, 48u);
  EXPECT_EQ(s.tokenizer_model, "llama");
  EXPECT_EQ(count_type(s, GgmlType::F16), 16u);
  EXPECT_EQ(count_type(s, GgmlType::F32), 5u);
}

TEST(GgufPyFixtures, EveryValueTypeNestedArraysAndAlignment64) {
  expect_matches_record("value-types");
  const GgufFile file = GgufFile::open(qrag::testing::test_data("gguf/value-types.gguf"));
  EXPECT_EQ(file.alignment(), 64u);
  EXPECT_EQ(file.data_offset() % 64, 0u);
  for (const TensorInfo& info : file.tensors()) EXPECT_EQ(info.offset % 64, 0u) << info.name;
}

}  // namespace
}  // namespace qrag::gguf
