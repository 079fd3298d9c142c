// GgufWriter: round trips (read -> write -> read) on generated, gguf-py and
// shared files, streaming in chunks, producer errors, atomic files and the
// validation of declarations.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "common/test_paths.h"
#include "gguf/gguf_builder.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_test_util.h"
#include "gguf/gguf_writer.h"

namespace qrag::gguf {
namespace {

using testing::build;
using testing::error_of;
using testing::expect_contains_all;
using testing::sample_file;
using testing::TestFile;

// Writes `file` again through GgufWriter, tensor bytes copied from its mapping.
std::vector<std::uint8_t> rewrite(const GgufFile& file) {
  GgufWriter writer = GgufWriter::copy_of(file);
  VectorSink sink;
  writer.write(sink, [&](const TensorInfo& info, ByteSink& out) { out.write(file.tensor_data(file.tensor(info.name))); });
  return sink.take();
}

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void expect_round_trip(const std::vector<std::uint8_t>& original, const std::string& name) {
  SCOPED_TRACE(name);
  const GgufFile first = GgufFile::from_bytes(original, name);
  const std::vector<std::uint8_t> written = rewrite(first);
  const GgufFile second = GgufFile::from_bytes(written, name + " (rewritten)");
  EXPECT_EQ(second.version(), 3u);
  EXPECT_EQ(second.alignment(), first.alignment());
  testing::expect_same_content(first, second);
  EXPECT_TRUE(rewrite(second) == written) << "writing is not a fixed point";
}

TEST(GgufWriterRoundTrip, GeneratedFiles) {
  std::vector<std::pair<std::string, TestFile>> files;
  files.emplace_back("sample", sample_file());
  TestFile v2 = sample_file();
  v2.version = 2;
  files.emplace_back("v2", v2);
  for (std::uint32_t alignment : {1u, 64u, 4096u}) {
    TestFile f = sample_file();
    f.metadata.push_back({"general.alignment", Value{alignment}});
    f.alignment = alignment;
    files.emplace_back("alignment " + std::to_string(alignment), f);
  }
  TestFile empty = sample_file();
  empty.tensors.clear();
  files.emplace_back("no tensors", empty);
  TestFile scalar = sample_file();
  scalar.tensors.push_back({"scalar", 0, {}, testing::pattern_bytes(4, 9)});
  files.emplace_back("scalar tensor", scalar);
  for (const auto& [name, spec] : files) expect_round_trip(build(spec).bytes, name);
}

TEST(GgufWriterRoundTrip, MatchesTheTestEncoderByteForByte) {
  // The test encoder lays files out as the writer does (header, KVs, infos,
  // padding, each tensor padded), so a v3 file must come back identical.
  for (std::uint32_t alignment : {32u, 64u}) {
    TestFile spec = sample_file();
    if (alignment != 32) spec.metadata.push_back({"general.alignment", Value{alignment}});
    spec.alignment = alignment;
    const auto bytes = build(spec).bytes;
    EXPECT_TRUE(rewrite(GgufFile::from_bytes(bytes)) == bytes) << "alignment " << alignment;
  }
  TestFile v2 = sample_file();
  v2.version = 2;
  auto bytes = build(v2).bytes;
  auto written = rewrite(GgufFile::from_bytes(bytes));
  ASSERT_EQ(written.size(), bytes.size());
  EXPECT_EQ(written[4], 3);  // only the version differs
  written[4] = 2;
  EXPECT_TRUE(written == bytes);
}

TEST(GgufWriterRoundTrip, GgufPyFixturesComeBackByteIdentical) {
  for (const char* name : {"gguf/tiny-llama.gguf", "gguf/value-types.gguf"}) {
    const auto original = read_bytes(qrag::testing::test_data(name));
    ASSERT_FALSE(original.empty()) << name;
    expect_round_trip(original, name);
    EXPECT_TRUE(rewrite(GgufFile::from_bytes(original)) == original) << name;
  }
}

TEST(GgufWriterRoundTrip, EverySharedModelThroughAFile) {
  const auto models = qrag::testing::shared_file("models");
  if (!models) GTEST_SKIP() << "needs ../shared/models";
  const auto dir = qrag::testing::make_temp_dir();
  int n = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(*models)) {
    if (entry.path().extension() != ".gguf") continue;
    ++n;
    SCOPED_TRACE(entry.path().string());
    const GgufFile original = GgufFile::open(entry.path());
    const auto out = dir / entry.path().filename();
    GgufWriter::copy_of(original).write_file(out, [&](const TensorInfo& info, ByteSink& sink) {
      sink.write(original.tensor_data(original.tensor(info.name)));
    });
    const GgufFile copy = GgufFile::open(out);
    testing::expect_same_content(original, copy);
    EXPECT_EQ(copy.alignment(), original.alignment());
    // Same layout conventions as llama.cpp and gguf-py: identical bytes, except
    // that vocabulary-only files written without final padding gain it.
    const auto a = read_bytes(entry.path());
    const auto b = read_bytes(out);
    ASSERT_GE(b.size(), a.size());
    EXPECT_LT(b.size() - a.size(), original.alignment());
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin())) << "bytes differ";
    EXPECT_TRUE(std::all_of(b.begin() + static_cast<std::ptrdiff_t>(a.size()), b.end(), [](auto x) { return x == 0; }));
    if (!original.tensors().empty()) {
      EXPECT_EQ(a.size(), b.size());
    }
    std::filesystem::remove(out);
  }
  EXPECT_GE(n, 11);
}

TEST(GgufWriterRoundTrip, EveryTensorType) {
  GgufWriter writer;
  std::vector<std::vector<std::uint8_t>> data;
  for (std::uint32_t id = 0; id < 64; ++id) {
    const auto layout = find_type_layout(id);
    if (!layout) continue;
    const std::int64_t ne[] = {layout->block_size * 2, 3};
    const TensorInfo& info = writer.add_tensor(std::string(layout->name) + ".weight", layout->type, ne);
    EXPECT_EQ(info.n_bytes, 6 * layout->type_size);
    data.push_back(testing::pattern_bytes(info.n_bytes, static_cast<std::uint8_t>(id)));
  }
  EXPECT_EQ(data.size(), 32u);
  VectorSink sink;
  std::size_t next = 0;
  writer.write(sink, [&](const TensorInfo&, ByteSink& out) { out.write(data[next++]); });
  const GgufFile file = GgufFile::from_bytes(sink.take());
  ASSERT_EQ(file.tensors().size(), data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto bytes = file.tensor_data(file.tensors()[i]);
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), data[i].begin(), data[i].end())) << file.tensors()[i].name;
  }
}

// ---- streaming ----

TEST(GgufWriterStreaming, ChunkedProducersGiveTheSameBytes) {
  const GgufFile file = GgufFile::from_bytes(build(sample_file()).bytes);
  GgufWriter writer = GgufWriter::copy_of(file);
  VectorSink sink;
  writer.write(sink, [&](const TensorInfo& info, ByteSink& out) {
    for (std::uint8_t byte : file.tensor_data(file.tensor(info.name))) out.write(std::span(&byte, 1));
  });
  EXPECT_TRUE(sink.bytes() == rewrite(file));
}

TEST(GgufWriterStreaming, LowLevelCallsAndOffsets) {
  const GgufFile file = GgufFile::from_bytes(build(sample_file()).bytes);
  GgufWriter writer = GgufWriter::copy_of(file);
  VectorSink sink;
  writer.begin(sink);
  for (const TensorInfo& info : writer.tensors()) {
    const auto bytes = file.tensor_data(file.tensor(info.name));
    writer.write_tensor_data(bytes.first(1));
    writer.write_tensor_data(bytes.subspan(1));
  }
  writer.finish();
  const GgufFile back = GgufFile::from_bytes(sink.take());
  for (std::size_t i = 0; i < back.tensors().size(); ++i) {
    EXPECT_EQ(writer.tensors()[i].offset, back.tensors()[i].offset);
    EXPECT_EQ(writer.tensors()[i].info_offset, back.tensors()[i].info_offset);
  }
  testing::expect_same_content(file, back);
}

TEST(GgufWriterStreaming, ProducerSupplyingTooFewOrTooManyBytes) {
  const GgufFile file = GgufFile::from_bytes(build(sample_file()).bytes);
  {
    GgufWriter writer = GgufWriter::copy_of(file);
    VectorSink sink;
    expect_contains_all(error_of([&] {
                          writer.write(sink, [&](const TensorInfo& info, ByteSink& out) {
                            const auto bytes = file.tensor_data(file.tensor(info.name));
                            out.write(info.name == "b.bias" ? bytes.first(2) : bytes);
                          });
                        }),
                        {"tensor 'b.bias': the producer supplied 2 of its 6 bytes"});
  }
  {
    GgufWriter writer = GgufWriter::copy_of(file);
    VectorSink sink;
    expect_contains_all(error_of([&] {
                          writer.write(sink, [&](const TensorInfo& info, ByteSink& out) {
                            out.write(file.tensor_data(file.tensor(info.name)));
                            if (info.name == "a.weight") out.write(file.tensor_data(file.tensor(info.name)).first(1));
                          });
                        }),
                        {"tensor 'a.weight': the producer supplied more than its 32 bytes"});
  }
  {
    GgufWriter writer = GgufWriter::copy_of(file);
    VectorSink sink;
    writer.begin(sink);
    const std::vector<std::uint8_t> too_big(33);
    expect_contains_all(error_of([&] { writer.write_tensor_data(too_big); }),
                        {"tensor 'a.weight': 33 bytes supplied but only 32 of its 32 bytes are left"});
    writer.write_tensor_data(file.tensor_data(file.tensor("a.weight")));
    expect_contains_all(error_of([&] { writer.finish(); }),
                        {"tensor 'b.bias': only 0 of its 6 bytes were supplied (tensor 2 of 3)"});
  }
}

TEST(GgufWriterFiles, FailedWriteLeavesNothingBehindAndKeepsTheOldFile) {
  const GgufFile file = GgufFile::from_bytes(build(sample_file()).bytes);
  const auto dir = qrag::testing::make_temp_dir();
  const auto path = dir / "model.gguf";
  std::ofstream(path) << "old contents";
  const std::string message = error_of([&] {
    GgufWriter::copy_of(file).write_file(path, [&](const TensorInfo& info, ByteSink& out) {
      if (info.name == "c.weight") throw Error("quantizer failed");
      out.write(file.tensor_data(file.tensor(info.name)));
    });
  });
  expect_contains_all(message, {"writing " + path.string() + ": quantizer failed"});
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(std::ifstream(path).rdbuf()), {}), "old contents");
  EXPECT_FALSE(std::filesystem::exists(dir / "model.gguf.partial"));
  // And a successful write replaces it.
  GgufWriter::copy_of(file).write_file(path, [&](const TensorInfo& info, ByteSink& out) {
    out.write(file.tensor_data(file.tensor(info.name)));
  });
  testing::expect_same_content(file, GgufFile::open(path));
  EXPECT_FALSE(std::filesystem::exists(dir / "model.gguf.partial"));
}

TEST(GgufWriterFiles, UnwritableDirectoryIsAnError) {
  GgufWriter writer;
  expect_contains_all(error_of([&] { writer.write_file("/nonexistent-qrag-dir/x.gguf", {}); }),
                      {"cannot create /nonexistent-qrag-dir/x.gguf.partial"});
}

// ---- declarations ----

TEST(GgufWriterDeclarations, MetadataIsValidated) {
  GgufWriter w;
  w.add_metadata("general.name", Value{std::string("x")});
  expect_contains_all(error_of([&] { w.add_metadata("general.name", Value{1u}); }),
                      {"metadata key 'general.name': duplicate key"});
  expect_contains_all(error_of([&] { w.add_metadata("", Value{1u}); }), {"empty key"});
  expect_contains_all(error_of([&] { w.add_metadata(std::string(65536, 'k'), Value{1u}); }),
                      {"key length 65536 exceeds the GGUF limit of 65535 bytes"});
  expect_contains_all(error_of([&] { w.add_metadata("general.alignment", Value{std::uint64_t{32}}); }),
                      {"'general.alignment'", "value has type uint64, expected uint32"});
  expect_contains_all(error_of([&] { w.add_metadata("general.alignment", Value{24u}); }), {"24 is not a power of two"});
  expect_contains_all(
      error_of([&] { w.add_metadata("mixed", Value{Array{ValueType::INT32, {Value{1}, Value{2.0f}}}}); }),
      {"metadata key 'mixed': value[1] has type float32 but the array's element type is int32"});
  expect_contains_all(error_of([&] { w.add_metadata("bad", Value{Array{static_cast<ValueType>(13), {}}}); }),
                      {"value: unknown array element type 13"});
  Value deep{Array{ValueType::UINT8, {}}};
  for (int level = 1; level < 9; ++level) deep = Value{Array{ValueType::ARRAY, {deep}}};
  expect_contains_all(error_of([&] { w.add_metadata("deep", deep); }), {"arrays nested more than 8 levels deep"});
  EXPECT_EQ(w.metadata().size(), 1u);
}

TEST(GgufWriterDeclarations, SetAndRemoveMetadata) {
  GgufWriter w;
  w.add_metadata("a", Value{1u});
  w.add_metadata("b", Value{2u});
  w.add_metadata("c", Value{3u});
  w.set_metadata("b", Value{std::string("two")});
  w.set_metadata("d", Value{4u});
  EXPECT_TRUE(w.remove_metadata("a"));
  EXPECT_FALSE(w.remove_metadata("a"));
  ASSERT_EQ(w.metadata().size(), 3u);
  EXPECT_EQ(w.metadata()[0].key, "b");
  EXPECT_TRUE(w.metadata()[0].value == Value{std::string("two")});
  EXPECT_EQ(w.metadata()[2].key, "d");
  w.set_metadata("general.alignment", Value{64u});
  EXPECT_EQ(w.alignment(), 64u);
  VectorSink sink;
  w.write(sink, {});
  const GgufFile file = GgufFile::from_bytes(sink.take());
  EXPECT_EQ(file.get_string("b"), "two");
  EXPECT_EQ(file.find("a"), nullptr);
  EXPECT_EQ(file.alignment(), 64u);
  EXPECT_EQ(file.file_size() % 64, 0u);
}

TEST(GgufWriterDeclarations, TensorsAreValidated) {
  GgufWriter w;
  const std::int64_t ok[] = {32, 2};
  w.add_tensor("t", GgmlType::Q8_0, ok);
  expect_contains_all(error_of([&] { w.add_tensor("t", GgmlType::F32, ok); }), {"tensor 't': duplicate tensor name"});
  expect_contains_all(error_of([&] { w.add_tensor("", GgmlType::F32, ok); }), {"empty tensor name"});
  const std::int64_t five[] = {1, 1, 1, 1, 1};
  expect_contains_all(error_of([&] { w.add_tensor("five", GgmlType::F32, five); }),
                      {"tensor 'five': 5 dimensions exceed the maximum of 4"});
  const std::int64_t zero[] = {4, 0};
  expect_contains_all(error_of([&] { w.add_tensor("zero", GgmlType::F32, zero); }),
                      {"tensor 'zero': ne[1] = 0 in shape [4, 0] is not a positive dimension"});
  const std::int64_t odd[] = {33};
  expect_contains_all(error_of([&] { w.add_tensor("odd", GgmlType::Q4_0, odd); }),
                      {"tensor 'odd': row length ne[0] = 33 is not a multiple of the q4_0 block size 32"});
  const std::int64_t huge[] = {std::int64_t{1} << 40, std::int64_t{1} << 40};
  expect_contains_all(error_of([&] { w.add_tensor("huge", GgmlType::F32, huge); }), {"overflows int64"});
  EXPECT_EQ(w.tensors().size(), 1u);
}

}  // namespace
}  // namespace qrag::gguf
