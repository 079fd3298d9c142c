// SQLite embedding cache (WAL, one transaction per batch) and the cache-aware embedder.
#include "retrieval/embedding_cache.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <xxhash.h>

#include <cstring>
#include <unordered_map>

#include <fmt/format.h>

#include "core/check.h"
#include "core/error.h"

namespace qrag::retrieval {
namespace {

// Owns a prepared statement; finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql, const std::filesystem::path& path) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      throw Error("embedding cache " + path.string() + ": failed to prepare '" + sql + "': " + sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

void bind_text(sqlite3_stmt* stmt, int column, std::string_view text) {
  sqlite3_bind_text(stmt, column, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

}  // namespace

std::string text_hash(std::string_view text) {
  const XXH128_hash_t hash = XXH3_128bits(text.data(), text.size());
  return fmt::format("{:016x}{:016x}", hash.high64, hash.low64);
}

EmbeddingCache::EmbeddingCache(const std::filesystem::path& path) : path_(path) {
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error("embedding cache " + path.string() + ": failed to open: " + message);
  }
  try {
    sqlite3_busy_timeout(db_, 10000);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec(
        "CREATE TABLE IF NOT EXISTS embeddings(model TEXT NOT NULL, text_hash TEXT NOT NULL, "
        "dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY(model, text_hash)) WITHOUT ROWID");
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

EmbeddingCache::~EmbeddingCache() { sqlite3_close(db_); }

void EmbeddingCache::exec(const char* sql) const {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    throw Error("embedding cache " + path_.string() + ": '" + sql + "' failed: " + text);
  }
}

std::vector<std::optional<std::vector<float>>> EmbeddingCache::get(std::string_view model_id,
                                                                   std::span<const std::string> hashes,
                                                                   std::size_t dim) {
  const std::lock_guard lock(mutex_);
  std::vector<std::optional<std::vector<float>>> out(hashes.size());
  Statement select(db_, "SELECT dim, vector FROM embeddings WHERE model = ?1 AND text_hash = ?2", path_);
  exec("BEGIN");
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    sqlite3_reset(select.get());
    bind_text(select.get(), 1, model_id);
    bind_text(select.get(), 2, hashes[i]);
    const int rc = sqlite3_step(select.get());
    if (rc == SQLITE_DONE) continue;
    if (rc != SQLITE_ROW) {
      const std::string message = sqlite3_errmsg(db_);
      exec("ROLLBACK");
      throw Error("embedding cache " + path_.string() + ": lookup failed: " + message);
    }
    const auto stored_dim = static_cast<std::size_t>(sqlite3_column_int64(select.get(), 0));
    const auto bytes = static_cast<std::size_t>(sqlite3_column_bytes(select.get(), 1));
    if (stored_dim != dim || bytes != dim * sizeof(float)) {
      spdlog::warn("embedding cache {}: row for model {} text {} has dim {} and {} bytes, expected dim {}; re-embedding",
                   path_.string(), model_id, hashes[i], stored_dim, bytes, dim);
      continue;
    }
    std::vector<float> vector(dim);
    if (dim > 0) std::memcpy(vector.data(), sqlite3_column_blob(select.get(), 1), bytes);
    out[i] = std::move(vector);
  }
  exec("COMMIT");
  return out;
}

void EmbeddingCache::put(std::string_view model_id, std::span<const std::string> hashes, const EmbeddingMatrix& rows) {
  QRAG_CHECK(rows.rows == hashes.size(), "one embedding row per hash");
  QRAG_CHECK(rows.values.size() == rows.rows * rows.dim, "embedding matrix size must be rows * dim");
  const std::lock_guard lock(mutex_);
  Statement insert(db_, "INSERT OR REPLACE INTO embeddings(model, text_hash, dim, vector) VALUES(?1, ?2, ?3, ?4)",
                   path_);
  exec("BEGIN IMMEDIATE");
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    sqlite3_reset(insert.get());
    bind_text(insert.get(), 1, model_id);
    bind_text(insert.get(), 2, hashes[i]);
    sqlite3_bind_int64(insert.get(), 3, static_cast<sqlite3_int64>(rows.dim));
    const auto row = rows.row(i);
    sqlite3_bind_blob(insert.get(), 4, row.data(), static_cast<int>(row.size_bytes()), SQLITE_TRANSIENT);
    if (sqlite3_step(insert.get()) != SQLITE_DONE) {
      const std::string message = sqlite3_errmsg(db_);
      exec("ROLLBACK");
      throw Error("embedding cache " + path_.string() + ": insert failed: " + message);
    }
  }
  exec("COMMIT");
}

std::size_t EmbeddingCache::count(std::string_view model_id) const {
  const std::lock_guard lock(mutex_);
  Statement select(db_,
                   model_id.empty() ? "SELECT COUNT(*) FROM embeddings"
                                    : "SELECT COUNT(*) FROM embeddings WHERE model = ?1",
                   path_);
  if (!model_id.empty()) bind_text(select.get(), 1, model_id);
  if (sqlite3_step(select.get()) != SQLITE_ROW) {
    throw Error("embedding cache " + path_.string() + ": count failed: " + sqlite3_errmsg(db_));
  }
  return static_cast<std::size_t>(sqlite3_column_int64(select.get(), 0));
}

CachedEmbedder::CachedEmbedder(std::shared_ptr<Encoder> encoder, std::shared_ptr<EmbeddingCache> cache,
                               std::size_t batch_size)
    : encoder_(std::move(encoder)), cache_(std::move(cache)), batch_size_(batch_size) {
  QRAG_CHECK(encoder_ != nullptr, "CachedEmbedder needs an encoder");
  QRAG_CHECK(batch_size_ > 0, "batch size must be positive");
}

EmbeddingMatrix CachedEmbedder::embed(std::span<const std::string> texts) {
  const std::size_t dim = encoder_->dim();
  const std::string model_id = encoder_->model_id();
  EmbeddingMatrix out{texts.size(), dim, std::vector<float>(texts.size() * dim)};

  std::vector<std::string> hashes(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) hashes[i] = text_hash(texts[i]);
  std::vector<std::optional<std::vector<float>>> cached(texts.size());
  if (cache_) cached = cache_->get(model_id, hashes, dim);

  // Distinct missing texts, each embedded once; `targets` lists the output rows per text.
  std::vector<std::size_t> missing;
  std::unordered_map<std::string, std::size_t> slot_of_hash;
  std::vector<std::vector<std::size_t>> targets;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (cached[i]) {
      std::copy(cached[i]->begin(), cached[i]->end(), out.row(i).begin());
      ++n_cache_hits_;
      continue;
    }
    const auto [it, inserted] = slot_of_hash.try_emplace(hashes[i], missing.size());
    if (inserted) {
      missing.push_back(i);
      targets.emplace_back();
    }
    targets[it->second].push_back(i);
  }

  for (std::size_t start = 0; start < missing.size(); start += batch_size_) {
    const std::size_t count = std::min(batch_size_, missing.size() - start);
    std::vector<std::string> batch;
    std::vector<std::string> batch_hashes;
    for (std::size_t j = start; j < start + count; ++j) {
      batch.push_back(texts[missing[j]]);
      batch_hashes.push_back(hashes[missing[j]]);
    }
    const EmbeddingMatrix rows = encoder_->embed(batch);
    if (rows.rows != count || rows.dim != dim || rows.values.size() != count * dim) {
      throw Error(fmt::format("encoder {} returned a {}x{} matrix ({} values) for {} texts of dim {}", model_id,
                              rows.rows, rows.dim, rows.values.size(), count, dim));
    }
    n_embedded_ += count;
    // Stored per batch, so an interrupted run keeps every finished batch.
    if (cache_) cache_->put(model_id, batch_hashes, rows);
    for (std::size_t j = 0; j < count; ++j) {
      for (std::size_t target : targets[start + j]) {
        std::copy(rows.row(j).begin(), rows.row(j).end(), out.row(target).begin());
      }
    }
  }
  return out;
}

}  // namespace qrag::retrieval
