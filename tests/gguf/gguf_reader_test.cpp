// GgufFile on well-formed input: every value type, v2 and v3, alignment,
// tensor views, typed getters and their errors.
#include <gtest/gtest.h>

#include <fstream>

#include "common/test_paths.h"
#include "gguf/gguf_builder.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_test_util.h"

namespace qrag::gguf {
namespace {

using testing::build;
using testing::error_of;
using testing::expect_contains_all;
using testing::RawGguf;
using testing::sample_file;
using testing::TestFile;

GgufFile parse(const RawGguf& raw, const std::string& name = "test.gguf") {
  return GgufFile::from_bytes(raw.bytes, name);
}

// Checks the parsed file against what build() wrote, field by field.
void expect_matches(const GgufFile& file, const TestFile& spec, const RawGguf& raw) {
  EXPECT_EQ(file.version(), spec.version);
  EXPECT_EQ(file.file_size(), raw.bytes.size());
  ASSERT_EQ(file.metadata().size(), spec.metadata.size());
  for (std::size_t i = 0; i < spec.metadata.size(); ++i) {
    EXPECT_EQ(file.metadata()[i].key, spec.metadata[i].key);
    EXPECT_TRUE(file.metadata()[i].value == spec.metadata[i].value) << spec.metadata[i].key;
  }
  ASSERT_EQ(file.tensors().size(), spec.tensors.size());
  EXPECT_EQ(file.data_offset() % file.alignment(), 0u);
  for (std::size_t i = 0; i < spec.tensors.size(); ++i) {
    const TensorInfo& info = file.tensors()[i];
    const testing::TestTensor& want = spec.tensors[i];
    EXPECT_EQ(info.name, want.name);
    EXPECT_EQ(static_cast<std::uint32_t>(info.type), want.type);
    ASSERT_EQ(info.n_dims, static_cast<int>(want.ne.size()));
    for (int j = 0; j < kMaxDims; ++j) {
      EXPECT_EQ(info.ne[j], j < info.n_dims ? static_cast<std::int64_t>(want.ne[j]) : 1) << info.name << " ne[" << j << "]";
    }
    EXPECT_EQ(info.offset % file.alignment(), 0u);
    EXPECT_EQ(info.info_offset, raw.field("tensor info #" + std::to_string(i), "name").offset);
    const auto data = file.tensor_data(info);
    ASSERT_EQ(data.size(), want.data.size()) << info.name;
    EXPECT_TRUE(std::equal(data.begin(), data.end(), want.data.begin())) << info.name;
    EXPECT_EQ(data.data(), file.tensor_data(info).data()) << "views, not copies";
    EXPECT_EQ(file.data_offset() + info.offset, raw.field("tensor '" + want.name + "'", "data").offset);
  }
}

TEST(GgufReader, ReadsEveryValueTypeInV3AndV2) {
  for (std::uint32_t version : {3u, 2u}) {
    TestFile spec = sample_file();
    spec.version = version;
    const RawGguf raw = build(spec);
    const GgufFile file = parse(raw);
    SCOPED_TRACE("version " + std::to_string(version));
    expect_matches(file, spec, raw);
    EXPECT_EQ(file.alignment(), kDefaultAlignment);
    EXPECT_EQ(file.architecture(), "llama");
  }
}

TEST(GgufReader, TensorShapesAndSizes) {
  const GgufFile file = parse(build(sample_file()));
  const TensorInfo& a = file.tensor("a.weight");
  EXPECT_EQ(a.n_elements(), 8);
  EXPECT_EQ(a.n_rows(), 2);
  EXPECT_EQ(a.n_bytes, 32u);
  const TensorInfo& c = file.tensor("c.weight");
  EXPECT_EQ(c.type, GgmlType::Q8_0);
  EXPECT_EQ(c.n_bytes, 34u);  // one block_q8_0
  EXPECT_EQ(file.n_params(), 8u + 3u + 32u);
  EXPECT_EQ(file.tensor_bytes(), 32u + 6u + 34u);
  EXPECT_EQ(file.find_tensor("missing"), nullptr);
  expect_contains_all(error_of([&] { (void)file.tensor("missing"); }),
                      {"test.gguf: tensor 'missing' not found (the file has 3 tensors)"});
}

TEST(GgufReader, HonoursGeneralAlignment) {
  for (std::uint32_t alignment : {1u, 8u, 64u, 4096u}) {
    TestFile spec = sample_file();
    spec.metadata.push_back({"general.alignment", Value{alignment}});
    spec.alignment = alignment;
    const RawGguf raw = build(spec);
    const GgufFile file = parse(raw);
    SCOPED_TRACE("alignment " + std::to_string(alignment));
    EXPECT_EQ(file.alignment(), alignment);
    expect_matches(file, spec, raw);
  }
}

TEST(GgufReader, AcceptsArraysNestedEightDeepAndEmptyArrays) {
  Value v{Array{ValueType::INT8, {Value{std::int8_t{-1}}}}};
  for (int level = 1; level < 8; ++level) v = Value{Array{ValueType::ARRAY, {v}}};
  TestFile spec = sample_file();
  spec.metadata.push_back({"test.deep", v});
  spec.metadata.push_back({"test.empty_nested", Value{Array{ValueType::ARRAY, {}}}});
  const RawGguf raw = build(spec);
  expect_matches(parse(raw), spec, raw);
}

TEST(GgufReader, AcceptsNoTensorsWithDataSectionPastEndOfFile) {
  // Vocabulary-only files end right after the metadata, unpadded.
  TestFile spec = sample_file();
  spec.tensors.clear();
  spec.pad_end = false;
  spec.metadata.push_back({"test.pad", Value{std::uint8_t{0}}});  // makes the header end unaligned
  const RawGguf raw = build(spec);
  ASSERT_NE(raw.bytes.size() % 32, 0u);
  const GgufFile file = parse(raw);
  EXPECT_TRUE(file.tensors().empty());
  EXPECT_GT(file.data_offset(), file.file_size());
  EXPECT_EQ(file.n_params(), 0u);
}

TEST(GgufReader, AcceptsGapsTrailingBytesAndScalarTensors) {
  TestFile spec = sample_file();
  spec.tensors = {{"gap.before", 0, {8}, testing::pattern_bytes(32, 5), 64},
                  {"first", 0, {4}, testing::pattern_bytes(16, 6), 0},
                  {"scalar", 0, {}, testing::pattern_bytes(4, 7), 128}};
  RawGguf raw = build(spec);
  raw.bytes.resize(raw.bytes.size() + 100, 0xAB);  // trailing bytes after the data
  const GgufFile file = parse(raw);
  const TensorInfo& scalar = file.tensor("scalar");
  EXPECT_EQ(scalar.n_dims, 0);
  EXPECT_EQ(scalar.n_elements(), 1);
  EXPECT_EQ(scalar.n_bytes, 4u);
  expect_matches(file, spec, raw);
}

TEST(GgufReader, ReadModeMatchesMmap) {
  const auto dir = qrag::testing::make_temp_dir();
  const auto path = dir / "sample.gguf";
  const RawGguf raw = build(sample_file());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(raw.bytes.data()),
                                              static_cast<std::streamsize>(raw.bytes.size()));
  const GgufFile mapped = GgufFile::open(path, core::MappedFile::Mode::kMmap);
  const GgufFile read = GgufFile::open(path, core::MappedFile::Mode::kRead);
  EXPECT_EQ(mapped.path(), path);
  testing::expect_same_content(mapped, read);
  expect_matches(read, sample_file(), raw);
}

TEST(GgufReader, MovedFileKeepsViewsValid) {
  GgufFile file = parse(build(sample_file()));
  const auto before = file.tensor_data(file.tensor("a.weight"));
  GgufFile moved = std::move(file);
  const auto after = moved.tensor_data(moved.tensor("a.weight"));
  EXPECT_EQ(before.data(), after.data());
  EXPECT_EQ(moved.get_string("general.name"), "sample");
}

TEST(GgufReader, OpenErrorsNameThePath) {
  const auto dir = qrag::testing::make_temp_dir();
  expect_contains_all(error_of([&] { GgufFile::open(dir / "absent.gguf"); }), {"cannot open", "absent.gguf"});
  const auto path = dir / "short.gguf";
  std::ofstream(path, std::ios::binary).write("GGUF", 4);
  expect_contains_all(error_of([&] { GgufFile::open(path); }),
                      {"reading " + path.string() + ": version at offset 4: needs 4 bytes but only 0 are left (file size 4)"});
}

// ---- typed getters ----

class GgufGetters : public ::testing::Test {
 protected:
  GgufGetters() : raw_(build(sample_file())), file_(GgufFile::from_bytes(raw_.bytes, "model.gguf")) {}
  std::string value_at(const std::string& key) const {
    return "value at offset " + std::to_string(raw_.field("'" + key + "'", "value type").offset);
  }
  RawGguf raw_;
  GgufFile file_;
};

TEST_F(GgufGetters, ReturnValuesOfMatchingTypes) {
  EXPECT_EQ(file_.get_string("general.name"), "sample");
  EXPECT_EQ(file_.get_string("test.empty_string"), "");
  EXPECT_EQ(file_.get_uint("test.u8"), 250u);
  EXPECT_EQ(file_.get_uint("test.u16"), 65535u);
  EXPECT_EQ(file_.get_uint("test.u32"), 4000000000u);
  EXPECT_EQ(file_.get_uint("test.u64"), std::uint64_t{1} << 63);
  EXPECT_EQ(file_.get_int("test.i8"), -7);
  EXPECT_EQ(file_.get_int("test.i16"), -32768);
  EXPECT_EQ(file_.get_int("test.i32"), -5);
  EXPECT_EQ(file_.get_int("test.i64"), std::int64_t{-1} << 40);
  EXPECT_EQ(file_.get_int("test.u32"), 4000000000);  // unsigned that fits int64
  EXPECT_EQ(file_.get_float("test.f32"), 0.25);
  EXPECT_EQ(file_.get_float("test.f64"), -1.5e-10);
  EXPECT_TRUE(file_.get_bool("test.bool"));
  EXPECT_EQ(file_.get_array("test.array.empty").element_type, ValueType::UINT64);
  EXPECT_TRUE(file_.get_array("test.array.empty").items.empty());
  EXPECT_EQ(file_.get_string_array("test.array.string"), (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_EQ(file_.get_float_array("test.array.f32"), (std::vector<float>{0.5f, -2.0f}));
  EXPECT_EQ(file_.get_int_array("test.array.i32"), (std::vector<std::int64_t>{-1, 0, 1}));
  EXPECT_EQ(file_.get_int_array("test.array.u8"), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(file_.get_array("test.array.nested").items.size(), 3u);
  EXPECT_EQ(file_.find_string("general.architecture"), "llama");
  EXPECT_EQ(file_.find_uint("test.u8"), 250u);
  EXPECT_EQ(file_.find_float("test.f32"), 0.25);
  EXPECT_EQ(file_.find_bool("test.bool"), true);
  EXPECT_EQ(file_.find_string("absent"), std::nullopt);
  EXPECT_EQ(file_.find_uint("absent"), std::nullopt);
  EXPECT_EQ(file_.find_float("absent"), std::nullopt);
  EXPECT_EQ(file_.find_bool("absent"), std::nullopt);
  EXPECT_EQ(file_.find("absent"), nullptr);
  EXPECT_EQ(file_.value_offset("test.u8"), raw_.field("'test.u8'", "value type").offset);
}

TEST_F(GgufGetters, MissingKeyNamesKeyAndExpectedType) {
  expect_contains_all(error_of([&] { file_.get_uint("llama.block_count"); }),
                      {"model.gguf: metadata key 'llama.block_count' (expected an unsigned integer) not found"});
}

TEST_F(GgufGetters, WrongTypeNamesKeyOffsetExpectedAndActual) {
  expect_contains_all(error_of([&] { file_.get_uint("general.name"); }),
                      {"model.gguf: metadata key 'general.name'", value_at("general.name"),
                       "expected an unsigned integer, found string"});
  expect_contains_all(error_of([&] { file_.get_string("test.u8"); }), {"'test.u8'", value_at("test.u8"), "expected string, found uint8"});
  expect_contains_all(error_of([&] { file_.get_float("test.i32"); }), {"expected float32 or float64, found int32"});
  expect_contains_all(error_of([&] { file_.get_bool("test.u8"); }), {"expected bool, found uint8"});
  expect_contains_all(error_of([&] { file_.get_array("test.u8"); }), {"expected array, found uint8"});
  expect_contains_all(error_of([&] { file_.get_string_array("test.array.i32"); }),
                      {"'test.array.i32'", value_at("test.array.i32"), "expected array of string, found array of int32"});
  expect_contains_all(error_of([&] { file_.get_float_array("test.array.string"); }),
                      {"expected array of float32 or float64, found array of string"});
  expect_contains_all(error_of([&] { file_.get_int_array("test.array.f32"); }),
                      {"expected array of integers that fit int64, found array of float32"});
  expect_contains_all(error_of([&] { file_.find_uint("general.name"); }), {"expected an unsigned integer, found string"});
  expect_contains_all(error_of([&] { file_.find_string("test.bool"); }), {"expected string, found bool"});
}

TEST_F(GgufGetters, IntegerRangeIsChecked) {
  expect_contains_all(error_of([&] { file_.get_uint("test.i32"); }),
                      {"'test.i32'", "expected an unsigned integer (the value is -5), found int32"});
  expect_contains_all(error_of([&] { file_.get_int("test.u64"); }),
                      {"'test.u64'", "expected an integer that fits int64 (the value is 9223372036854775808), found uint64"});
}

TEST(GgufGettersBoundaries, Int64MinAndUint64Max) {
  TestFile spec = sample_file();
  spec.metadata = {{"min", Value{std::numeric_limits<std::int64_t>::min()}},
                   {"max", Value{std::numeric_limits<std::uint64_t>::max()}},
                   {"big", Value{Array{ValueType::UINT64, {Value{std::uint64_t{1}}, Value{~std::uint64_t{0}}}}}}};
  const GgufFile file = GgufFile::from_bytes(build(spec).bytes);
  EXPECT_EQ(file.get_int("min"), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(file.get_uint("max"), std::numeric_limits<std::uint64_t>::max());
  expect_contains_all(error_of([&] { file.get_uint("min"); }), {"the value is -9223372036854775808"});
  expect_contains_all(error_of([&] { file.get_int_array("big"); }), {"element 1 is 18446744073709551615"});
}

}  // namespace
}  // namespace qrag::gguf
