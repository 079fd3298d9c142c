// Persistent BM25 index: round trip against the in-memory index and clear errors on corrupt files.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

#include "common/test_paths.h"
#include "core/error.h"
#include "retrieval/bm25.h"
#include "retrieval/persistent_index.h"

namespace qrag::retrieval {
namespace {

std::vector<Document> random_documents(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> word(0, 40);
  std::uniform_int_distribution<int> length(0, 25);
  std::vector<Document> docs;
  for (std::size_t i = 0; i < n; ++i) {
    std::string text;
    const int len = length(rng);
    for (int j = 0; j < len; ++j) text += fmt::format("Word{}{}", word(rng), j % 4 == 0 ? ", " : " ");
    docs.push_back({fmt::format("doc-{}", i), text, std::nullopt});
  }
  return docs;
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Re-stamps the payload checksum so that only the structural checks can catch an edit.
void fix_checksum(std::string& bytes) {
  const std::uint64_t hash = XXH3_64bits(bytes.data() + 64, bytes.size() - 64);
  std::memcpy(bytes.data() + 48, &hash, 8);
}

std::string open_error(const std::filesystem::path& path) {
  try {
    PersistentIndex::open(path);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(PersistentIndex, ReopenGivesSameScores) {
  const auto dir = qrag::testing::make_temp_dir();
  for (AnalyzerKind analyzer : {AnalyzerKind::kWhitespace, AnalyzerKind::kSimple, AnalyzerKind::kEnglish}) {
    const auto docs = random_documents(300, static_cast<unsigned>(analyzer) + 5);
    const auto path = dir / "index.qbm25";
    PersistentIndex::write(path, docs, analyzer);
    const PersistentIndex index = PersistentIndex::open(path);
    EXPECT_EQ(index.analyzer(), analyzer);
    ASSERT_EQ(index.doc_ids().size(), docs.size());
    EXPECT_EQ(index.doc_ids()[17], "doc-17");
    for (Bm25Variant variant : {Bm25Variant::kOkapi, Bm25Variant::kLucene, Bm25Variant::kBm25Plus, Bm25Variant::kBm25L}) {
      const Bm25Params params = Bm25Params::defaults_for(variant);
      Bm25Retriever in_memory(params, analyzer);
      const std::string query = "Word3 word7, Word7 Word40 missing";
      const RankResult expected = in_memory.rank(query, docs, 10);
      const RankResult actual = index.search(query, params, 10);
      ASSERT_EQ(actual.ranking.size(), expected.ranking.size());
      for (std::size_t r = 0; r < actual.ranking.size(); ++r) {
        EXPECT_EQ(actual.ranking[r].index, expected.ranking[r].index);
        EXPECT_EQ(actual.ranking[r].score, expected.ranking[r].score);
      }
      EXPECT_EQ(actual.n_empty_documents, expected.n_empty_documents);
    }
  }
}

TEST(PersistentIndex, EmptyCorpusRoundTrips) {
  const auto path = qrag::testing::make_temp_dir() / "empty.qbm25";
  PersistentIndex::write(path, {}, AnalyzerKind::kWhitespace);
  const PersistentIndex index = PersistentIndex::open(path);
  const RankResult result = index.search("anything", Bm25Params{}, 5);
  EXPECT_TRUE(result.ranking.empty());
  EXPECT_TRUE(result.empty_profile());
}

TEST(PersistentIndex, CorruptionIsReported) {
  const auto dir = qrag::testing::make_temp_dir();
  const auto path = dir / "index.qbm25";
  PersistentIndex::write(path, random_documents(50, 3), AnalyzerKind::kWhitespace);
  const std::string good = read_bytes(path);
  const auto bad = dir / "bad.qbm25";

  std::string flipped = good;
  flipped[good.size() / 2] = static_cast<char>(flipped[good.size() / 2] ^ 0x40);
  write_bytes(bad, flipped);
  EXPECT_NE(open_error(bad).find("checksum"), std::string::npos) << open_error(bad);

  write_bytes(bad, good.substr(0, good.size() - 9));
  EXPECT_NE(open_error(bad).find("truncated"), std::string::npos) << open_error(bad);

  write_bytes(bad, good.substr(0, 20));
  EXPECT_NE(open_error(bad).find("header"), std::string::npos) << open_error(bad);

  std::string magic = good;
  magic[0] = 'X';
  write_bytes(bad, magic);
  EXPECT_NE(open_error(bad).find("magic"), std::string::npos) << open_error(bad);

  std::string version = good;
  version[8] = 9;
  write_bytes(bad, version);
  EXPECT_NE(open_error(bad).find("version 9"), std::string::npos) << open_error(bad);

  // A posting pointing past the last document, with a valid checksum: the last 8 bytes
  // are the last posting (u32 doc, u32 tf).
  std::string posting = good;
  const std::uint32_t doc = 1000;
  std::memcpy(posting.data() + posting.size() - 8, &doc, 4);
  fix_checksum(posting);
  write_bytes(bad, posting);
  EXPECT_NE(open_error(bad).find("postings"), std::string::npos) << open_error(bad);

  // A zero term frequency.
  std::string zero_tf = good;
  std::memset(zero_tf.data() + zero_tf.size() - 4, 0, 4);
  fix_checksum(zero_tf);
  write_bytes(bad, zero_tf);
  EXPECT_NE(open_error(bad).find("tf 0"), std::string::npos) << open_error(bad);

  EXPECT_THROW(PersistentIndex::open(dir / "missing.qbm25"), Error);
  EXPECT_EQ(open_error(path), "");
}

}  // namespace
}  // namespace qrag::retrieval
