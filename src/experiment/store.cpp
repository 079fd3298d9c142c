// SQLite implementation of the results store: schema, versioning, rows, runs and merge.
#include "experiment/store.h"

#include <sqlite3.h>

#include <chrono>
#include <ctime>
#include <utility>

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/build_info.h"
#include "core/check.h"
#include "core/cpu_features.h"
#include "core/error.h"

namespace qrag::experiment {
namespace {

// Schema version 1. `results.k` is the config text ("3" or "max"); doc_ids and scores
// are JSON; first_step uses the BLOB layout of topk.h.
constexpr const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT, qrag_version TEXT, build_type TEXT,
  compiler TEXT, cpu_model TEXT, isa TEXT, threads INTEGER, seeds TEXT, config_path TEXT, command TEXT);
CREATE TABLE IF NOT EXISTS results (
  key TEXT PRIMARY KEY, generation_key TEXT NOT NULL, run_id INTEGER, question_id TEXT NOT NULL,
  dataset TEXT, task INTEGER, model TEXT, precision TEXT, retriever TEXT, k TEXT, doc_order TEXT,
  seed INTEGER, model_hash TEXT, raw_output TEXT, prediction TEXT, gold TEXT, scores TEXT,
  prompt_tokens INTEGER, doc_ids TEXT, truncated INTEGER, generated_tokens INTEGER, ttft_ms REAL,
  prefill_tps REAL, decode_tps REAL, peak_memory_bytes INTEGER, kv_cache_bytes INTEGER,
  first_step BLOB);
CREATE INDEX IF NOT EXISTS results_generation ON results (generation_key);
)sql";

constexpr const char* kRowColumns =
    "key, generation_key, run_id, question_id, dataset, task, model, precision, retriever, k, doc_order, seed, "
    "model_hash, raw_output, prediction, gold, scores, prompt_tokens, doc_ids, truncated, generated_tokens, "
    "ttft_ms, prefill_tps, decode_tps, peak_memory_bytes, kv_cache_bytes, first_step";
constexpr int kRowColumnCount = 27;

[[noreturn]] void fail(sqlite3* db, const std::filesystem::path& path, std::string_view what) {
  throw Error(fmt::format("results store '{}': {} failed: {}", path.string(), what, sqlite3_errmsg(db)));
}

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const std::filesystem::path& path, const std::string& sql) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) fail(db, path, "preparing a query");
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void bind(int index, const std::string& text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void bind(int index, std::int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  void bind(int index, double value) { sqlite3_bind_double(stmt_, index, value); }
  void bind_blob(int index, const std::vector<std::uint8_t>& bytes) {
    sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  }

  // Returns true while a row is available.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail(db_, path_, "a query");
    return false;
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  std::string text(int column) const {
    const auto* data = sqlite3_column_text(stmt_, column);
    return data == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(data),
                                                          static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  double real(int column) const { return sqlite3_column_double(stmt_, column); }
  std::vector<std::uint8_t> blob(int column) const {
    const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
    return data == nullptr ? std::vector<std::uint8_t>()
                           : std::vector<std::uint8_t>(data, data + sqlite3_column_bytes(stmt_, column));
  }

 private:
  sqlite3* db_;
  const std::filesystem::path& path_;
  sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const std::filesystem::path& path, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    throw Error(fmt::format("results store '{}': {}", path.string(), text));
  }
}

KValue parse_k(const std::string& text) {
  if (text == "max") return KValue{true, 0};
  return KValue{false, std::stoi(text)};
}

DocumentOrder parse_order_name(const std::string& text) {
  if (text == "relevance-last") return DocumentOrder::kRelevanceLast;
  if (text == "shuffled") return DocumentOrder::kShuffled;
  return DocumentOrder::kRelevanceFirst;
}

void bind_row(Statement& stmt, const ResultRow& row) {
  int i = 1;
  stmt.bind(i++, row.key);
  stmt.bind(i++, row.generation_key);
  stmt.bind(i++, row.run_id);
  stmt.bind(i++, row.question_id);
  stmt.bind(i++, row.cell.dataset);
  stmt.bind(i++, std::int64_t{row.cell.task});
  stmt.bind(i++, row.cell.model);
  stmt.bind(i++, row.cell.precision);
  stmt.bind(i++, row.cell.retriever);
  stmt.bind(i++, row.cell.k.to_string());
  stmt.bind(i++, std::string(to_string(row.cell.order)));
  stmt.bind(i++, static_cast<std::int64_t>(row.cell.seed));
  stmt.bind(i++, row.model_hash);
  stmt.bind(i++, row.raw_output);
  stmt.bind(i++, row.prediction);
  stmt.bind(i++, row.gold);
  stmt.bind(i++, nlohmann::json(row.scores).dump());
  stmt.bind(i++, row.prompt_tokens);
  stmt.bind(i++, nlohmann::json(row.doc_ids).dump());
  stmt.bind(i++, std::int64_t{row.truncated ? 1 : 0});
  stmt.bind(i++, row.generated_tokens);
  stmt.bind(i++, row.ttft_ms);
  stmt.bind(i++, row.prefill_tokens_per_s);
  stmt.bind(i++, row.decode_tokens_per_s);
  stmt.bind(i++, row.peak_memory_bytes);
  stmt.bind(i++, row.kv_cache_bytes);
  stmt.bind_blob(i++, encode_topk(row.first_step));
  QRAG_CHECK(i == kRowColumnCount + 1, "bind_row must bind every results column");
}

ResultRow read_row(const Statement& stmt, const std::filesystem::path& path) {
  ResultRow row;
  int i = 0;
  row.key = stmt.text(i++);
  row.generation_key = stmt.text(i++);
  row.run_id = stmt.integer(i++);
  row.question_id = stmt.text(i++);
  row.cell.dataset = stmt.text(i++);
  row.cell.task = static_cast<int>(stmt.integer(i++));
  row.cell.model = stmt.text(i++);
  row.cell.precision = stmt.text(i++);
  row.cell.retriever = stmt.text(i++);
  try {
    row.cell.k = parse_k(stmt.text(i++));
    row.cell.order = parse_order_name(stmt.text(i++));
    row.cell.seed = static_cast<std::uint64_t>(stmt.integer(i++));
    row.model_hash = stmt.text(i++);
    row.raw_output = stmt.text(i++);
    row.prediction = stmt.text(i++);
    row.gold = stmt.text(i++);
    row.scores = nlohmann::json::parse(stmt.text(i++)).get<std::map<std::string, double>>();
    row.prompt_tokens = stmt.integer(i++);
    row.doc_ids = nlohmann::json::parse(stmt.text(i++)).get<std::vector<std::string>>();
    row.truncated = stmt.integer(i++) != 0;
    row.generated_tokens = stmt.integer(i++);
    row.ttft_ms = stmt.real(i++);
    row.prefill_tokens_per_s = stmt.real(i++);
    row.decode_tokens_per_s = stmt.real(i++);
    row.peak_memory_bytes = stmt.integer(i++);
    row.kv_cache_bytes = stmt.integer(i++);
    row.first_step = decode_topk(stmt.blob(i++));
  } catch (const std::exception& error) {
    throw Error(fmt::format("results store '{}': row '{}' column {} is malformed: {}", path.string(), row.key, i - 1,
                            error.what()));
  }
  return row;
}

void check_schema(sqlite3* db, const std::filesystem::path& path) {
  Statement has_meta(db, path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
  has_meta.step();
  if (has_meta.integer(0) == 0) {
    throw Error(fmt::format("'{}' is not a qrag results store (it has no meta table); pass the results.sqlite "
                            "of a qrag run directory", path.string()));
  }
  Statement version(db, path, "SELECT value FROM meta WHERE key = 'schema_version'");
  const std::string found = version.step() ? version.text(0) : std::string("none");
  if (found != std::to_string(kStoreSchemaVersion)) {
    throw Error(fmt::format("results store '{}' has schema version {}, but this qrag ({}) reads version {}; open it "
                            "with the qrag version that wrote it, or write a new run directory",
                            path.string(), found, core::kVersion, kStoreSchemaVersion));
  }
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm parts{};
  gmtime_r(&now, &parts);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return buffer;
}

}  // namespace

bool ResultRow::same_content(const ResultRow& other) const {
  return key == other.key && generation_key == other.generation_key && question_id == other.question_id &&
         cell == other.cell && model_hash == other.model_hash && raw_output == other.raw_output &&
         prediction == other.prediction && gold == other.gold && scores == other.scores &&
         prompt_tokens == other.prompt_tokens && doc_ids == other.doc_ids && truncated == other.truncated &&
         generated_tokens == other.generated_tokens && first_step == other.first_step;
}

RunInfo describe_this_run(int threads, std::span<const std::uint64_t> seeds, const std::string& config_path,
                          const std::string& command) {
  const core::CpuFeatures cpu = core::detect_cpu_features();
  RunInfo info;
  info.started_at = utc_now();
  info.qrag_version = core::kVersion;
  info.build_type = core::kBuildType;
  info.compiler = core::kCompiler;
  info.cpu_model = cpu.model_name;
  info.isa = cpu.summary();
  info.threads = threads;
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    if (i > 0) info.seeds += ',';
    info.seeds += std::to_string(seeds[i]);
  }
  info.config_path = config_path;
  info.command = command;
  return info;
}

ResultStore::ResultStore(std::filesystem::path path, sqlite3* db) : path_(std::move(path)), db_(db) {}

ResultStore::ResultStore(ResultStore&& other) noexcept
    : path_(std::move(other.path_)), db_(std::exchange(other.db_, nullptr)) {}

ResultStore& ResultStore::operator=(ResultStore&& other) noexcept {
  if (this != &other) {
    sqlite3_close(db_);
    path_ = std::move(other.path_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

ResultStore::~ResultStore() { sqlite3_close(db_); }

ResultStore ResultStore::open(const std::filesystem::path& path, Mode mode) {
  const bool exists = std::filesystem::exists(path);
  if (!exists && mode == Mode::kReadOnly) {
    throw Error(fmt::format("results store '{}' not found; run `qrag run` first or check the run directory",
                            path.string()));
  }
  sqlite3* db = nullptr;
  const int flags = mode == Mode::kReadOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    const std::string message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw Error(fmt::format("cannot open results store '{}': {}", path.string(), message));
  }
  ResultStore store(path, db);
  sqlite3_busy_timeout(db, 5000);
  if (!exists) {
    exec(db, path, "PRAGMA journal_mode = WAL");
    exec(db, path, "BEGIN");
    exec(db, path, kSchemaSql);
    exec(db, path, fmt::format("INSERT INTO meta (key, value) VALUES ('schema_version', '{}'), ('created_by', "
                               "'qrag {}')", kStoreSchemaVersion, core::kVersion).c_str());
    exec(db, path, "COMMIT");
  } else {
    check_schema(db, path);
  }
  // NORMAL is durable against a killed process in WAL mode; only a power loss can drop the
  // last committed transactions, and it never corrupts the file.
  if (mode == Mode::kReadWrite) exec(db, path, "PRAGMA synchronous = NORMAL");
  return store;
}

std::int64_t ResultStore::begin_run(RunInfo info) {
  Statement stmt(db_, path_,
                 "INSERT INTO runs (started_at, qrag_version, build_type, compiler, cpu_model, isa, threads, seeds, "
                 "config_path, command) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  int i = 1;
  for (const std::string* text : {&info.started_at, &info.qrag_version, &info.build_type, &info.compiler,
                                  &info.cpu_model, &info.isa}) {
    stmt.bind(i++, *text);
  }
  stmt.bind(i++, std::int64_t{info.threads});
  stmt.bind(i++, info.seeds);
  stmt.bind(i++, info.config_path);
  stmt.bind(i++, info.command);
  stmt.step();
  return sqlite3_last_insert_rowid(db_);
}

namespace {
// Precision labels live in the meta table as "precision_label\t<model>\t<precision>".
constexpr std::string_view kLabelPrefix = "precision_label\t";
}  // namespace

void ResultStore::set_precision_label(const std::string& model, const std::string& precision,
                                      const std::string& label) {
  Statement stmt(db_, path_, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
  stmt.bind(1, std::string(kLabelPrefix) + model + "\t" + precision);
  stmt.bind(2, label);
  stmt.step();
}

std::map<std::pair<std::string, std::string>, std::string> ResultStore::precision_labels() const {
  Statement stmt(db_, path_, "SELECT key, value FROM meta WHERE key LIKE 'precision_label%'");
  std::map<std::pair<std::string, std::string>, std::string> labels;
  while (stmt.step()) {
    const std::string key = stmt.text(0);
    const std::size_t tab = key.find('\t', kLabelPrefix.size());
    if (!key.starts_with(kLabelPrefix) || tab == std::string::npos) continue;
    labels[{key.substr(kLabelPrefix.size(), tab - kLabelPrefix.size()), key.substr(tab + 1)}] = stmt.text(1);
  }
  return labels;
}

std::vector<RunInfo> ResultStore::runs() const {
  Statement stmt(db_, path_,
                 "SELECT run_id, started_at, qrag_version, build_type, compiler, cpu_model, isa, threads, seeds, "
                 "config_path, command FROM runs ORDER BY run_id");
  std::vector<RunInfo> result;
  while (stmt.step()) {
    RunInfo info;
    info.run_id = stmt.integer(0);
    info.started_at = stmt.text(1);
    info.qrag_version = stmt.text(2);
    info.build_type = stmt.text(3);
    info.compiler = stmt.text(4);
    info.cpu_model = stmt.text(5);
    info.isa = stmt.text(6);
    info.threads = static_cast<int>(stmt.integer(7));
    info.seeds = stmt.text(8);
    info.config_path = stmt.text(9);
    info.command = stmt.text(10);
    result.push_back(std::move(info));
  }
  return result;
}

bool ResultStore::has(const std::string& key) const {
  Statement stmt(db_, path_, "SELECT 1 FROM results WHERE key = ?");
  stmt.bind(1, key);
  return stmt.step();
}

std::optional<ResultRow> ResultStore::select_one(const char* sql, const std::string& value) const {
  Statement stmt(db_, path_, fmt::format("SELECT {} FROM results WHERE {} LIMIT 1", kRowColumns, sql));
  stmt.bind(1, value);
  if (!stmt.step()) return std::nullopt;
  return read_row(stmt, path_);
}

std::optional<ResultRow> ResultStore::get(const std::string& key) const { return select_one("key = ?", key); }

std::optional<ResultRow> ResultStore::find_generation(const std::string& generation_key) const {
  return select_one("generation_key = ?", generation_key);
}

std::size_t ResultStore::put(const ResultRow& row) { return put_batch(std::span<const ResultRow>(&row, 1)); }

std::size_t ResultStore::put_batch(std::span<const ResultRow> rows) {
  std::string placeholders = "?";
  for (int i = 1; i < kRowColumnCount; ++i) placeholders += ", ?";
  Statement stmt(db_, path_,
                 fmt::format("INSERT OR IGNORE INTO results ({}) VALUES ({})", kRowColumns, placeholders));
  exec(db_, path_, "BEGIN IMMEDIATE");
  std::size_t inserted = 0;
  try {
    for (const ResultRow& row : rows) {
      QRAG_CHECK(row.key.size() == 32, "result rows need a 32-digit content key");
      bind_row(stmt, row);
      stmt.step();
      inserted += static_cast<std::size_t>(sqlite3_changes(db_));
      stmt.reset();
    }
    exec(db_, path_, "COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  return inserted;
}

std::vector<ResultRow> ResultStore::rows() const {
  Statement stmt(db_, path_, fmt::format("SELECT {} FROM results ORDER BY key", kRowColumns));
  std::vector<ResultRow> result;
  while (stmt.step()) result.push_back(read_row(stmt, path_));
  return result;
}

std::size_t ResultStore::row_count() const {
  Statement stmt(db_, path_, "SELECT count(*) FROM results");
  stmt.step();
  return static_cast<std::size_t>(stmt.integer(0));
}

MergeReport merge_stores(const std::filesystem::path& output, std::span<const std::filesystem::path> inputs) {
  ResultStore out = ResultStore::open(output, ResultStore::Mode::kReadWrite);
  MergeReport report;
  for (const std::filesystem::path& input : inputs) {
    const ResultStore in = ResultStore::open(input, ResultStore::Mode::kReadOnly);
    std::map<std::int64_t, std::int64_t> run_ids;
    for (RunInfo info : in.runs()) {
      const std::int64_t old_id = info.run_id;
      run_ids[old_id] = out.begin_run(std::move(info));
    }
    for (const auto& [model_precision, label] : in.precision_labels()) {
      out.set_precision_label(model_precision.first, model_precision.second, label);
    }
    std::vector<ResultRow> batch;
    for (ResultRow& row : in.rows()) {
      if (const std::optional<ResultRow> existing = out.get(row.key)) {
        if (existing->same_content(row)) {
          ++report.duplicates;
        } else {
          report.conflicts.push_back(fmt::format("{}: question '{}' cell '{}' in '{}' differs from the row already "
                                                 "merged (kept the first)", row.key, row.question_id, row.cell.id(),
                                                 input.string()));
        }
        continue;
      }
      row.run_id = run_ids.contains(row.run_id) ? run_ids[row.run_id] : 0;
      batch.push_back(std::move(row));
    }
    report.inserted += out.put_batch(batch);
    spdlog::info("merged '{}': {} runs, {} new rows", input.string(), run_ids.size(), batch.size());
  }
  return report;
}

}  // namespace qrag::experiment
