// SQLite cache of text embeddings keyed by model id and the XXH3-128 hash of the text.
#pragma once

#include <cstddef>
#include <filesystem>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "retrieval/encoder.h"

struct sqlite3;

namespace qrag::retrieval {

// The XXH3-128 hash of `text` as 32 lowercase hex digits (high 64 bits first).
std::string text_hash(std::string_view text);

// Table embeddings(model TEXT, text_hash TEXT, dim INTEGER, vector BLOB float32[dim]),
// primary key (model, text_hash). WAL journal, so a crash mid-write loses at most the
// open transaction and the file reopens cleanly. All methods lock an internal mutex,
// so one cache may be shared by several retrievers and threads.
class EmbeddingCache {
 public:
  // Opens or creates the database at `path` (":memory:" for a private in-memory cache).
  // Throws qrag::Error naming the path when SQLite fails.
  explicit EmbeddingCache(const std::filesystem::path& path);
  ~EmbeddingCache();
  EmbeddingCache(const EmbeddingCache&) = delete;
  EmbeddingCache& operator=(const EmbeddingCache&) = delete;

  // Looks up each hash; result[i] is the vector for hashes[i] or nullopt on a miss. A
  // stored row whose dim differs from `dim` is treated as a miss and logged.
  std::vector<std::optional<std::vector<float>>> get(std::string_view model_id,
                                                     std::span<const std::string> hashes, std::size_t dim);

  // Inserts (or replaces) rows in one transaction. rows.rows must equal hashes.size().
  void put(std::string_view model_id, std::span<const std::string> hashes, const EmbeddingMatrix& rows);

  // Number of stored rows for `model_id` (all models when empty).
  std::size_t count(std::string_view model_id = {}) const;

 private:
  void exec(const char* sql) const;

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  mutable std::mutex mutex_;
};

// Embeds texts through a cache: texts already stored for this encoder's model_id are
// read back, the rest are embedded in batches of `batch_size` and stored. `cache` may be
// null (then every text is embedded). Counts what it embedded, for tests and logs.
class CachedEmbedder {
 public:
  CachedEmbedder(std::shared_ptr<Encoder> encoder, std::shared_ptr<EmbeddingCache> cache, std::size_t batch_size);

  EmbeddingMatrix embed(std::span<const std::string> texts);

  std::size_t n_embedded() const { return n_embedded_; }
  std::size_t n_cache_hits() const { return n_cache_hits_; }
  const Encoder& encoder() const { return *encoder_; }

 private:
  std::shared_ptr<Encoder> encoder_;
  std::shared_ptr<EmbeddingCache> cache_;
  std::size_t batch_size_;
  std::size_t n_embedded_ = 0;
  std::size_t n_cache_hits_ = 0;
};

}  // namespace qrag::retrieval
