// Persistent BM25 index: binary writer and a loader that validates every count, offset and posting.
#include "retrieval/persistent_index.h"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/mapped_file.h"

namespace qrag::retrieval {
namespace {

constexpr char kMagic[8] = {'Q', 'R', 'A', 'G', 'B', 'M', '2', '5'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderSize = 64;

// Header layout, little-endian: magic[8], u32 version, u32 analyzer, u64 n_documents,
// u64 n_terms, u64 n_postings, u64 payload_bytes, u64 payload_xxh3_64, u64 reserved (0).
struct Header {
  std::uint32_t version = kVersion;
  std::uint32_t analyzer = 0;
  std::uint64_t n_documents = 0;
  std::uint64_t n_terms = 0;
  std::uint64_t n_postings = 0;
  std::uint64_t payload_bytes = 0;
  std::uint64_t payload_hash = 0;
};

template <typename T>
void append_pod(std::string& out, const T& value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <typename T>
void append_array(std::string& out, const std::vector<T>& values) {
  out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// Strings as u64 offsets[n + 1] followed by the concatenated bytes.
void append_strings(std::string& out, std::span<const std::string> strings) {
  std::vector<std::uint64_t> offsets{0};
  for (const std::string& s : strings) offsets.push_back(offsets.back() + s.size());
  append_array(out, offsets);
  for (const std::string& s : strings) out += s;
}

// Bounds-checked reader over the payload; errors name the section and the file offset.
class Reader {
 public:
  Reader(std::span<const std::uint8_t> bytes, const std::filesystem::path& path) : bytes_(bytes), path_(path) {}

  template <typename T>
  std::vector<T> read_array(std::uint64_t count, std::string_view section) {
    if (count > remaining() / sizeof(T)) {
      fail(section, fmt::format("needs {} entries of {} bytes but only {} bytes remain", count, sizeof(T),
                                remaining()));
    }
    std::vector<T> values(count);
    if (count > 0) std::memcpy(values.data(), bytes_.data() + pos_, count * sizeof(T));
    pos_ += count * sizeof(T);
    return values;
  }

  std::vector<std::string> read_strings(std::uint64_t count, std::string_view section) {
    const auto offsets = read_array<std::uint64_t>(count + 1, section);
    if (offsets.front() != 0) fail(section, fmt::format("first offset is {}, expected 0", offsets.front()));
    for (std::size_t i = 1; i < offsets.size(); ++i) {
      if (offsets[i] < offsets[i - 1]) fail(section, fmt::format("offset {} decreases ({} < {})", i, offsets[i], offsets[i - 1]));
    }
    if (offsets.back() > remaining()) {
      fail(section, fmt::format("string bytes end at {} but only {} bytes remain", offsets.back(), remaining()));
    }
    std::vector<std::string> strings(count);
    for (std::size_t i = 0; i < count; ++i) {
      strings[i].assign(reinterpret_cast<const char*>(bytes_.data() + pos_ + offsets[i]), offsets[i + 1] - offsets[i]);
    }
    pos_ += offsets.back();
    return strings;
  }

  std::size_t remaining() const { return bytes_.size() - pos_; }
  std::size_t position() const { return pos_; }

  [[noreturn]] void fail(std::string_view section, const std::string& message) const {
    throw Error(fmt::format("BM25 index {}: section '{}' at file offset {}: {}; the file is corrupt, rebuild it",
                            path_.string(), section, kHeaderSize + pos_, message));
  }

 private:
  std::span<const std::uint8_t> bytes_;
  const std::filesystem::path& path_;
  std::size_t pos_ = 0;
};

Header read_header(std::span<const std::uint8_t> bytes, const std::filesystem::path& path) {
  const auto fail = [&](const std::string& message) {
    throw Error("BM25 index " + path.string() + ": " + message);
  };
  if (bytes.size() < kHeaderSize) fail(fmt::format("file has {} bytes, less than the {}-byte header", bytes.size(), kHeaderSize));
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) fail("bad magic: not a qrag BM25 index (expected 'QRAGBM25')");

  Header header;
  std::uint64_t reserved = 0;
  const std::uint8_t* p = bytes.data() + 8;
  std::memcpy(&header.version, p, 4);
  std::memcpy(&header.analyzer, p + 4, 4);
  std::memcpy(&header.n_documents, p + 8, 8);
  std::memcpy(&header.n_terms, p + 16, 8);
  std::memcpy(&header.n_postings, p + 24, 8);
  std::memcpy(&header.payload_bytes, p + 32, 8);
  std::memcpy(&header.payload_hash, p + 40, 8);
  std::memcpy(&reserved, p + 48, 8);

  if (header.version != kVersion) {
    fail(fmt::format("format version {} is not supported (this build reads version {}); rebuild the index",
                     header.version, kVersion));
  }
  if (header.analyzer > static_cast<std::uint32_t>(AnalyzerKind::kCharacters)) {
    fail(fmt::format("header field analyzer = {} is invalid", header.analyzer));
  }
  if (reserved != 0) fail(fmt::format("header reserved field is {}, expected 0", reserved));

  if (header.payload_bytes != bytes.size() - kHeaderSize) {
    fail(fmt::format("header says {} payload bytes but the file has {} (truncated or appended to)", header.payload_bytes,
                     bytes.size() - kHeaderSize));
  }
  const std::uint64_t hash = XXH3_64bits(bytes.data() + kHeaderSize, bytes.size() - kHeaderSize);
  if (hash != header.payload_hash) {
    fail(fmt::format("payload checksum {:016x} does not match the header's {:016x}: the file is corrupt, rebuild it",
                     hash, header.payload_hash));
  }
  return header;
}

}  // namespace

void PersistentIndex::write(const std::filesystem::path& path, std::span<const Document> docs, AnalyzerKind kind) {
  Analyzer analyzer(kind);
  std::vector<std::vector<std::string>> terms(docs.size());
  std::vector<std::string> ids(docs.size());
  for (std::size_t i = 0; i < docs.size(); ++i) {
    analyzer.analyze(docs[i].text, terms[i]);
    ids[i] = docs[i].id;
  }
  const InvertedIndex index = InvertedIndex::build(terms);

  std::string payload;
  append_strings(payload, ids);
  append_array(payload, std::vector<std::uint32_t>(index.doc_lengths().begin(), index.doc_lengths().end()));
  append_strings(payload, index.terms());
  append_array(payload, std::vector<std::uint64_t>(index.offsets().begin(), index.offsets().end()));
  append_array(payload, std::vector<Posting>(index.postings().begin(), index.postings().end()));

  std::string header(kMagic, sizeof(kMagic));
  append_pod(header, kVersion);
  append_pod(header, static_cast<std::uint32_t>(kind));
  append_pod(header, static_cast<std::uint64_t>(docs.size()));
  append_pod(header, static_cast<std::uint64_t>(index.n_terms()));
  append_pod(header, static_cast<std::uint64_t>(index.postings().size()));
  append_pod(header, static_cast<std::uint64_t>(payload.size()));
  append_pod(header, static_cast<std::uint64_t>(XXH3_64bits(payload.data(), payload.size())));
  append_pod(header, std::uint64_t{0});

  // Written beside the target and renamed, so a crash never leaves a half-written index.
  const std::filesystem::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("BM25 index " + temporary.string() + ": failed to open for writing");
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(payload.data(), static_cast<std::streamsize>(payload.size()));
    out.close();
    if (!out) throw Error("BM25 index " + temporary.string() + ": write failed (disk full?)");
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) throw Error("BM25 index " + path.string() + ": failed to rename the temporary file: " + error.message());
  spdlog::info("BM25 index {}: {} documents, {} terms, {} postings, analyzer {}", path.string(), docs.size(),
               index.n_terms(), index.postings().size(), analyzer_name(kind));
}

PersistentIndex PersistentIndex::open(const std::filesystem::path& path) {
  const core::MappedFile file = core::MappedFile::open(path);
  const Header header = read_header(file.bytes(), path);
  Reader reader(file.bytes().subspan(kHeaderSize), path);

  PersistentIndex out;
  out.analyzer_ = static_cast<AnalyzerKind>(header.analyzer);
  out.doc_ids_ = reader.read_strings(header.n_documents, "document ids");
  auto doc_lengths = reader.read_array<std::uint32_t>(header.n_documents, "document lengths");
  auto terms = reader.read_strings(header.n_terms, "terms");
  for (std::size_t t = 1; t < terms.size(); ++t) {
    if (!(terms[t - 1] < terms[t])) reader.fail("terms", fmt::format("term {} is not in strictly increasing order", t));
  }
  auto offsets = reader.read_array<std::uint64_t>(header.n_terms + 1, "posting offsets");
  if (offsets.front() != 0 || offsets.back() != header.n_postings) {
    reader.fail("posting offsets", fmt::format("offsets span [{}, {}], expected [0, {}]", offsets.front(),
                                               offsets.back(), header.n_postings));
  }
  auto postings = reader.read_array<Posting>(header.n_postings, "postings");
  if (reader.remaining() != 0) reader.fail("end", fmt::format("{} unexpected trailing bytes", reader.remaining()));

  // Every posting list is sorted by document, in range, and the tf sums match the lengths.
  std::vector<std::uint64_t> tf_sums(header.n_documents, 0);
  for (std::size_t t = 0; t < header.n_terms; ++t) {
    if (offsets[t + 1] < offsets[t] || offsets[t + 1] == offsets[t]) {
      reader.fail("posting offsets", fmt::format("term {} has an empty or negative posting range", t));
    }
    for (std::uint64_t p = offsets[t]; p < offsets[t + 1]; ++p) {
      const Posting& posting = postings[p];
      if (posting.doc >= header.n_documents || posting.tf == 0 || (p > offsets[t] && posting.doc <= postings[p - 1].doc)) {
        reader.fail("postings", fmt::format("posting {} of term {} (doc {}, tf {}) is invalid", p, t, posting.doc, posting.tf));
      }
      tf_sums[posting.doc] += posting.tf;
    }
  }
  for (std::size_t d = 0; d < header.n_documents; ++d) {
    if (tf_sums[d] != doc_lengths[d]) {
      reader.fail("document lengths", fmt::format("document {} has length {} but its postings sum to {}", d,
                                                  doc_lengths[d], tf_sums[d]));
    }
    if (doc_lengths[d] == 0) ++out.n_empty_documents_;
  }
  out.index_ = InvertedIndex::from_parts(std::move(terms), std::move(offsets), std::move(postings), std::move(doc_lengths));
  return out;
}

RankResult PersistentIndex::search(std::string_view query, const Bm25Params& params, std::size_t k) const {
  params.validate();
  Analyzer analyzer(analyzer_);
  const std::vector<std::string> query_terms = analyzer.analyze(query);
  RankResult result;
  result.requested_k = k;
  result.n_documents = index_.n_documents();
  result.n_empty_documents = n_empty_documents_;
  result.empty_query = query_terms.empty();
  if (index_.n_documents() == 0) return result;
  result.ranking = top_k(index_.score(query_terms, params), k);
  return result;
}

}  // namespace qrag::retrieval
