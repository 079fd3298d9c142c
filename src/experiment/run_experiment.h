// `qrag run` without the command line: config to store, with resume, shards, dry runs and a summary.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "experiment/grid.h"
#include "experiment/runner.h"

namespace qrag::experiment {

struct RunExperimentOptions {
  std::filesystem::path config_path;
  std::filesystem::path out_dir;          // empty = runs/<experiment name>
  std::filesystem::path cache_dir;        // empty = <out_dir>/models
  std::size_t limit = 0;                  // questions per dataset; 0 = the config's limits
  int threads = 0;                        // 0 = the config's threads, else one per core
  std::optional<Shard> shard;
  bool dry_run = false;
  bool reuse_prefix = true;               // see EngineBackendOptions::reuse_prefix
  bool copy_equal_generations = true;     // see RunOptions::copy_equal_generations
  int batch = 4;                          // questions generated together (EngineBackendOptions::batch)
  bool no_mmap = false;                   // see EngineBackendOptions::no_mmap
  std::size_t max_new_rows = 0;           // stop after this many new rows; 0 = no limit
  std::function<void(std::size_t new_rows)> after_row;  // see RunOptions::after_row
  std::string command_line;               // recorded in the store's runs table
};

struct RunExperimentResult {
  std::filesystem::path out_dir;
  std::filesystem::path store_path;
  std::size_t cells = 0;
  std::size_t rows = 0;                   // rows of this invocation's grid slice
  RunSummary summary;
  double seconds = 0.0;
};

// Loads the config, expands the grid (and the shard slice), prepares prompts, then
// either prints the dry-run plan to `out` or runs the missing rows into
// <out_dir>/results.sqlite with a progress display on `progress_out`. Rows already in
// the store are skipped, so rerunning after an interruption continues where it stopped.
// Throws qrag::Error on invalid configs and data; rows stored before an error remain.
RunExperimentResult run_experiment(const RunExperimentOptions& options, std::ostream& out,
                                   std::ostream& progress_out);

}  // namespace qrag::experiment
