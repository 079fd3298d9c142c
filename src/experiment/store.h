// Crash-safe SQLite results store: one row per (question, cell), keyed by a content hash.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "experiment/grid.h"
#include "experiment/topk.h"

struct sqlite3;

namespace qrag::experiment {

// Version of the tables below; a store written with another version is rejected on open.
inline constexpr int kStoreSchemaVersion = 1;
// File name of the store inside a run directory.
inline constexpr const char* kStoreFileName = "results.sqlite";

// One generation for one question under one cell, with what it cost.
//
// `scores` maps a per-question score name to its value. The runner writes, per task:
//   LaMP-1, LaMP-2: "correct" (1 or 0)          LaMP-3: "abs_error", "squared_error", "correct"
//   LaMP-4..LaMP-7: "rouge1", "rougeL" (F-measures in [0, 1])
// Analysis turns these into accuracy, MAE, RMSE and ROUGE (see analysis.h).
struct ResultRow {
  std::string key;             // row_key(): 32 hex digits
  std::string generation_key;  // generation_key(): rows with equal keys share one output
  std::int64_t run_id = 0;     // the `runs` row of the run that wrote it
  std::string question_id;
  Cell cell;
  std::string model_hash;

  std::string raw_output;
  std::string prediction;  // the parser's output; empty when parsing failed
  std::string gold;        // empty when the split has no gold outputs
  std::map<std::string, double> scores;

  std::int64_t prompt_tokens = 0;
  std::vector<std::string> doc_ids;  // profile item ids in prompt order
  bool truncated = false;            // documents were dropped or cut to fit the context
  std::int64_t generated_tokens = 0;
  double ttft_ms = 0.0;              // time to first token: prompt processing + first sample
  double prefill_tokens_per_s = 0.0;
  double decode_tokens_per_s = 0.0;
  std::int64_t peak_memory_bytes = 0;
  std::int64_t kv_cache_bytes = 0;
  TopKRecord first_step;

  // Equality of everything except the run id and the timings, which legitimately differ
  // between two computations of the same row.
  bool same_content(const ResultRow& other) const;
};

// The environment of one `qrag run` invocation (table `runs`).
struct RunInfo {
  std::int64_t run_id = 0;  // assigned by begin_run
  std::string started_at;   // UTC, ISO 8601
  std::string qrag_version;
  std::string build_type;
  std::string compiler;
  std::string cpu_model;
  std::string isa;          // CPU feature summary, e.g. "sse4.2 avx avx2 fma f16c"
  int threads = 0;
  std::string seeds;        // comma-separated
  std::string config_path;
  std::string command;

  bool operator==(const RunInfo&) const = default;
};

// Fills version, build, compiler, CPU and start time from this process.
RunInfo describe_this_run(int threads, std::span<const std::uint64_t> seeds, const std::string& config_path,
                          const std::string& command);

// Owns one SQLite connection in WAL mode. Each put() is its own transaction (and
// put_batch() one transaction for its rows), so a killed process loses at most the
// rows of the transaction in flight. Not thread-safe: use one store per thread.
class ResultStore {
 public:
  enum class Mode { kReadOnly, kReadWrite };

  // Opens or (in kReadWrite) creates the store. Throws qrag::Error when the file is not
  // a qrag store or has another schema version.
  static ResultStore open(const std::filesystem::path& path, Mode mode = Mode::kReadWrite);

  ResultStore(ResultStore&&) noexcept;
  ResultStore& operator=(ResultStore&&) noexcept;
  ~ResultStore();

  // Records the environment of a run and returns its run id.
  std::int64_t begin_run(RunInfo info);
  std::vector<RunInfo> runs() const;

  // A human-readable description of the file behind (model, precision), such as
  // "stored (Q4_1)" or "q4_0 (Q4_0 <- Q4_1)", shown by reports next to the precision.
  void set_precision_label(const std::string& model, const std::string& precision, const std::string& label);
  // Every label, keyed by (model, precision).
  std::map<std::pair<std::string, std::string>, std::string> precision_labels() const;

  bool has(const std::string& key) const;
  std::optional<ResultRow> get(const std::string& key) const;
  // Any stored row with this generation key, for reuse of its output.
  std::optional<ResultRow> find_generation(const std::string& generation_key) const;

  // Inserts rows; a key that is already stored is left unchanged. Returns the number of
  // rows inserted.
  std::size_t put(const ResultRow& row);
  std::size_t put_batch(std::span<const ResultRow> rows);

  // Every row, ordered by key.
  std::vector<ResultRow> rows() const;
  std::size_t row_count() const;

  const std::filesystem::path& path() const { return path_; }

 private:
  ResultStore(std::filesystem::path path, sqlite3* db);
  std::optional<ResultRow> select_one(const char* sql, const std::string& value) const;

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

// Outcome of merging shard stores.
struct MergeReport {
  std::size_t inserted = 0;
  std::size_t duplicates = 0;  // same key, same content: skipped
  std::vector<std::string> conflicts;  // "KEY: in FILE ..." for same key, different content
};

// Copies the runs and rows of every input store into `output` (created if missing).
// Conflicting rows keep the first stored version and are listed in the report.
MergeReport merge_stores(const std::filesystem::path& output, std::span<const std::filesystem::path> inputs);

}  // namespace qrag::experiment
