// `qrag run`: runs an experiment grid into a resumable results store, then writes its report.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "experiment/grid.h"
#include "experiment/run_experiment.h"
#include "report/report.h"

namespace qrag::cli {
namespace {

struct RunCommandOptions {
  std::string config;
  std::string out_dir;
  std::string cache_dir;
  std::string shard;
  std::size_t limit = 0;
  std::size_t max_rows = 0;
  int threads = 0;
  int batch = 4;
  bool dry_run = false;
  bool no_prefix_reuse = false;
  bool no_mmap = false;
  bool no_copy = false;
  bool no_report = false;
};

void run_command(const RunCommandOptions& opts, const GlobalOptions& global, const std::string& command_line) {
  experiment::RunExperimentOptions options;
  options.config_path = opts.config;
  options.out_dir = opts.out_dir;
  options.cache_dir = opts.cache_dir;
  options.limit = opts.limit;
  options.threads = opts.threads > 0 ? opts.threads : global.threads;
  if (!opts.shard.empty()) options.shard = experiment::parse_shard(opts.shard);
  options.dry_run = opts.dry_run;
  options.reuse_prefix = !opts.no_prefix_reuse;
  options.no_mmap = opts.no_mmap;
  options.copy_equal_generations = !opts.no_copy;
  options.batch = opts.batch;
  options.max_new_rows = opts.max_rows;
  options.command_line = command_line;
  // Crash testing: QRAG_KILL_AFTER_ROWS=N makes the process SIGKILL itself once N new rows
  // are committed, which is how the tests check that a killed run resumes exactly.
  if (const char* kill_after = std::getenv("QRAG_KILL_AFTER_ROWS"); kill_after != nullptr && *kill_after != '\0') {
    const std::size_t rows = std::stoul(kill_after);
    options.after_row = [rows](std::size_t new_rows) {
      if (new_rows >= rows) std::raise(SIGKILL);
    };
  }

  const experiment::RunExperimentResult result = experiment::run_experiment(options, std::cout, std::cerr);
  if (opts.dry_run) return;
  fmt::print("results: {} ({} rows computed, {} copied, {} already stored)\n", result.store_path.string(),
             result.summary.computed, result.summary.reused, result.summary.skipped);
  if (opts.no_report) return;
  const auto report_dir = result.out_dir / "report";
  const report::ReportOptions report_options;
  const auto written = report::write_report(result.out_dir, report_dir, report_options);
  fmt::print("report: {} ({} files; open {})\n", report_dir.string(), written.size(),
             (report_dir / "report.html").string());
}

}  // namespace

void register_run(CLI::App& app, const GlobalOptions& options) {
  auto opts = std::make_shared<RunCommandOptions>();
  auto* cmd = app.add_subcommand("run", "Run an experiment grid (datasets x models x precisions x retrievers x k)");
  cmd->add_option("config", opts->config, "Experiment TOML file (docs/cli.md lists its keys)")->required();
  cmd->add_option("-o,--out", opts->out_dir, "Run directory for results.sqlite and the report (default: runs/NAME)");
  cmd->add_option("--cache-dir", opts->cache_dir,
                  "Folder for quantized and converted model files (default: RUN_DIR/models)");
  cmd->add_option("--limit", opts->limit, "Use at most N questions per dataset (0: the config's limits)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", opts->threads, "Threads (0: the config's value, else one per core)")
      ->capture_default_str();
  cmd->add_option("--parallel", opts->batch,
                  "Questions generated together, one KV-cache sequence each (weights are read once per decode step)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--shard", opts->shard, "Run only slice I of N of the grid, as I/N (1-based); combine with qrag merge");
  cmd->add_flag("--dry-run", opts->dry_run,
                "Print the grid, prompt tokens per cell and an estimated duration, then exit");
  cmd->add_option("--max-rows", opts->max_rows, "Stop after N new rows (0: no limit); rerun to continue")
      ->capture_default_str();
  cmd->add_flag("--no-mmap", opts->no_mmap,
                "Read each model into memory advised for huge pages instead of mapping its file (faster "
                "decoding, a private copy of the weights)");
  cmd->add_flag("--no-prefix-reuse", opts->no_prefix_reuse,
                "Evaluate every prompt from its first token (for measuring what KV prefix reuse saves)");
  cmd->add_flag("--no-copy", opts->no_copy,
                "Generate a row whose prompt and model equal an earlier row's instead of copying that output "
                "(with --no-prefix-reuse --parallel 1: every prompt computed on its own, the baseline for what "
                "sharing saves)");
  cmd->add_flag("--no-report", opts->no_report, "Do not write the report at the end");
  cmd->callback([opts, &options] { run_command(*opts, options, "qrag run " + opts->config); });
}

}  // namespace qrag::cli
