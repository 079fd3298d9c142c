// Every malformed-file case gives a qrag::Error naming the file, the field and
// its byte offset; the checked-in fuzz corpus matches the generator.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "common/test_paths.h"
#include "gguf/gguf_builder.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_test_util.h"

namespace qrag::gguf {
namespace {

using testing::error_of;
using testing::expect_contains_all;
using testing::MalformedCase;

std::string param_name(const ::testing::TestParamInfo<MalformedCase>& info) {
  std::string name = info.param.name;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

void expect_rejected(const MalformedCase& c) {
  const std::string message = error_of([&] { GgufFile::from_bytes(c.bytes, c.name + ".gguf"); });
  EXPECT_EQ(message.rfind("reading " + c.name + ".gguf: ", 0), 0u) << message;
  expect_contains_all(message, c.expected);
}

class Malformed : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(Malformed, GivesTheSpecificError) { expect_rejected(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Gguf, Malformed, ::testing::ValuesIn(testing::malformed_cases()), param_name);

class Truncated : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(Truncated, NamesTheFieldWhereTheFileEnds) { expect_rejected(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Gguf, Truncated, ::testing::ValuesIn(testing::truncation_cases()), param_name);

TEST(MalformedCoverage, EveryCheckHasACase) {
  // Guards against the generators silently shrinking.
  std::set<std::string> names;
  for (const MalformedCase& c : testing::malformed_cases()) names.insert(c.name);
  for (const char* required :
       {"empty-file", "bad-magic", "version-1", "big-endian", "absurd-tensor-count", "absurd-kv-count",
        "key-length-past-eof", "empty-key", "key-too-long", "duplicate-key", "unknown-value-type",
        "string-value-past-eof", "bool-not-0-or-1", "array-length-past-eof", "array-unknown-element-type",
        "array-nested-too-deep", "alignment-not-power-of-two", "alignment-zero", "alignment-wrong-type",
        "tensor-name-past-eof", "empty-tensor-name", "duplicate-tensor-name", "n-dims-5", "zero-dimension",
        "dimension-over-int64", "element-count-overflow", "byte-size-overflow", "removed-tensor-type",
        "unknown-tensor-type", "row-not-multiple-of-block", "misaligned-offset", "data-past-eof",
        "offset-overflow", "overlapping-tensors"}) {
    EXPECT_TRUE(names.contains(required)) << required;
  }
  // Each header field, every KV, each tensor info field and each tensor's data is cut.
  const auto cuts = testing::truncation_cases();
  EXPECT_GE(cuts.size(), 150u);
  std::set<std::string> kinds;
  for (const MalformedCase& c : cuts) kinds.insert(c.expected.back().substr(0, c.expected.back().find(" at ")));
  for (const char* kind : {"magic", "version", "tensor_count", "kv_count", "key", "value type", "value",
                           "value length", "value element type", "name", "n_dims", "ne[0]", "type", "offset",
                           "bytes"}) {
    EXPECT_TRUE(kinds.contains(kind)) << "no truncation case fails at " << kind;
  }
}

TEST(Truncation, InsideTrailingPaddingStillLoads) {
  const testing::RawGguf raw = testing::build(testing::sample_file());
  const testing::Field& last = raw.fields.back();
  ASSERT_EQ(last.name, "padding");
  const std::vector<std::uint8_t> cut(raw.bytes.begin(), raw.bytes.begin() + static_cast<std::ptrdiff_t>(last.offset));
  EXPECT_EQ(GgufFile::from_bytes(cut).tensors().size(), 3u);
}

// ---- the checked-in fuzz corpus ----

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(FuzzCorpus, MatchesTheGenerator) {
  const auto dir = qrag::testing::source_dir() / "fuzz" / "corpus" / "gguf";
  const auto corpus = testing::fuzz_corpus();
  if (const char* update = std::getenv("QRAG_UPDATE_FUZZ_CORPUS"); update != nullptr && update[0] == '1') {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    for (const auto& [name, bytes] : corpus) {
      std::ofstream(dir / name, std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
  }
  ASSERT_TRUE(std::filesystem::is_directory(dir))
      << dir << " is missing; regenerate it with QRAG_UPDATE_FUZZ_CORPUS=1 ./qrag_tests_gguf --gtest_filter=FuzzCorpus.*";
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) on_disk.insert(entry.path().filename().string());
  std::set<std::string> generated;
  for (const auto& [name, bytes] : corpus) {
    generated.insert(name);
    EXPECT_TRUE(on_disk.contains(name)) << name << " missing from " << dir;
    if (on_disk.contains(name)) {
      EXPECT_TRUE(read_bytes(dir / name) == bytes) << name << " differs from the generator";
    }
  }
  EXPECT_EQ(on_disk, generated) << "stale files in " << dir
                                << "; regenerate with QRAG_UPDATE_FUZZ_CORPUS=1 ./qrag_tests_gguf --gtest_filter=FuzzCorpus.*";
}

TEST(FuzzCorpus, MalformedFilesAreRejectedAndSeedsLoad) {
  const auto dir = qrag::testing::source_dir() / "fuzz" / "corpus" / "gguf";
  std::size_t n = 0;
  for (const auto& [name, bytes] : testing::fuzz_corpus()) {
    ++n;
    if (name.rfind("valid-", 0) == 0) {
      EXPECT_NO_THROW(GgufFile::from_bytes(bytes, name)) << name;
    } else {
      EXPECT_FALSE(error_of([&] { GgufFile::from_bytes(bytes, name); }).empty()) << name;
    }
  }
  EXPECT_GT(n, 150u);
}

}  // namespace
}  // namespace qrag::gguf
