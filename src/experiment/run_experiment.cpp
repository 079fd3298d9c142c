// Orchestrates a run: config, grid, shard, model files, prompt preparation, dry-run estimate and the resumable loop.
#include "experiment/run_experiment.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include <fmt/core.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/thread_pool.h"
#include "experiment/config.h"
#include "experiment/engine_backend.h"
#include "experiment/model_files.h"
#include "experiment/prepare.h"
#include "experiment/progress.h"
#include "experiment/store.h"

namespace qrag::experiment {
namespace {

namespace fs = std::filesystem;

int resolve_threads(const RunExperimentOptions& options, const ExperimentConfig& config) {
  if (options.threads > 0) return options.threads;
  if (config.threads > 0) return config.threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::size_t count_rows(const std::vector<CellWork>& work) {
  std::size_t rows = 0;
  for (const CellWork& item : work) rows += item.prompts.size();
  return rows;
}

// Times one generation of the first cell's longest prompt, then extrapolates to the
// whole slice without prefix reuse and with every generation running to
// max_new_tokens, so the figure is an upper-bound estimate.
void print_estimate(const std::vector<CellWork>& work, BackendProvider& backends, const ExperimentConfig& config,
                    std::ostream& out) {
  std::size_t total_prompt_tokens = 0;
  out << "\nestimated prompt tokens per cell:\n";
  for (const CellWork& item : work) {
    std::size_t tokens = 0;
    for (const PreparedPrompt& prompt : item.prompts) tokens += prompt.prompt_tokens;
    total_prompt_tokens += tokens;
    const double mean = item.prompts.empty() ? 0.0 : static_cast<double>(tokens) / item.prompts.size();
    out << fmt::format("  {}  mean {:.0f}, total {}\n", item.cell.id(), mean, tokens);
  }
  const std::size_t rows = count_rows(work);
  out << fmt::format("total: {} generations, {} prompt tokens\n", rows, total_prompt_tokens);
  if (work.empty() || work.front().prompts.empty()) return;

  const CellWork& first = work.front();
  const auto longest = std::max_element(first.prompts.begin(), first.prompts.end(),
                                        [](const auto& a, const auto& b) { return a.prompt_tokens < b.prompt_tokens; });
  CellBackend& backend = backends.backend(first.cell.model, first.cell.precision);
  const GenerationResult probe = backend.generate({longest->prompt, config.decoding, first.cell.seed, kTopLogprobs});
  const double prefill_rate = std::max(probe.prefill_tokens_per_s, 1.0);
  const double decode_rate = std::max(probe.decode_tokens_per_s, 1.0);
  const double seconds = static_cast<double>(total_prompt_tokens) / prefill_rate +
                         static_cast<double>(rows) * config.decoding.max_new_tokens / decode_rate;
  out << fmt::format("calibration on {} at {}: prefill {:.0f} tokens/s, decode {:.0f} tokens/s\n", first.cell.model,
                     first.cell.precision, prefill_rate, decode_rate);
  out << fmt::format("estimated duration: at most {} (assumes every precision runs at this speed, no prefix "
                     "reuse and max_new_tokens per generation)\n", format_duration(seconds));
}

// Stores what each (model, precision) file really is, so reports show "stored (Q4_1)"
// instead of implying that a reference precision is F16.
void record_precision_labels(const ExperimentConfig& config, const std::vector<Cell>& cells, ModelFiles& files,
                             ResultStore& store) {
  std::set<std::pair<std::string, std::string>> done;
  for (const Cell& cell : cells) {
    if (!done.insert({cell.model, cell.precision}).second) continue;
    const auto model = std::find_if(config.models.begin(), config.models.end(),
                                    [&](const ModelConfig& m) { return m.name == cell.model; });
    const std::string label = describe_precision(files.llm_file(*model, cell.precision), cell.precision);
    store.set_precision_label(cell.model, cell.precision, label);
    spdlog::info("model '{}' precision {}", cell.model, label);
  }
}

void log_summary(const RunExperimentResult& result) {
  const RunSummary& s = result.summary;
  const std::int64_t prefill_total = s.prefill_computed + s.prefill_reused;
  const double saved = prefill_total > 0 ? 100.0 * static_cast<double>(s.prefill_reused) / prefill_total : 0.0;
  spdlog::info("run finished in {}: {} rows computed, {} copied from equal generations, {} already stored{}",
               format_duration(result.seconds), s.computed, s.reused, s.skipped,
               s.stopped_early ? " (stopped early as requested)" : "");
  spdlog::info("prefill: {} tokens computed, {} reused from the KV cache ({:.1f}% saved)", s.prefill_computed,
               s.prefill_reused, saved);
}

}  // namespace

RunExperimentResult run_experiment(const RunExperimentOptions& options, std::ostream& out,
                                   std::ostream& progress_out) {
  const auto start = std::chrono::steady_clock::now();
  const ExperimentConfig config = load_config(options.config_path);
  RunExperimentResult result;
  result.out_dir = options.out_dir.empty() ? fs::path("runs") / config.name : options.out_dir;
  const fs::path cache_dir = options.cache_dir.empty() ? result.out_dir / "models" : options.cache_dir;

  std::vector<Cell> cells = expand_grid(config);
  if (options.shard) cells = select_shard(cells, *options.shard);
  result.cells = cells.size();

  const int threads = resolve_threads(options, config);
  core::ThreadPool pool(threads);
  EngineBackendOptions backend_options;
  backend_options.n_ctx = static_cast<std::int64_t>(config.max_prompt_tokens);
  backend_options.reuse_prefix = options.reuse_prefix;
  backend_options.no_mmap = options.no_mmap;
  backend_options.batch = options.batch;

  const std::vector<LoadedDataset> datasets = load_datasets(config, options.limit);
  ModelFiles files(cache_dir, &pool);
  PromptPreparer preparer(config, datasets, files, pool, backend_options);
  const std::vector<CellWork> work = preparer.prepare(cells);
  result.rows = count_rows(work);
  EngineBackendProvider backends(config, files, pool, backend_options);

  if (options.dry_run) {
    std::vector<std::pair<std::string, std::size_t>> counts;
    for (const LoadedDataset& dataset : datasets) counts.emplace_back(dataset.config->name, dataset.questions.size());
    out << format_grid(cells, counts);
    print_estimate(work, backends, config, out);
    return result;
  }

  fs::create_directories(result.out_dir);
  result.store_path = result.out_dir / kStoreFileName;
  ResultStore store = ResultStore::open(result.store_path);
  RunOptions run_options;
  run_options.decoding = config.decoding;
  run_options.prompt_style = std::string(to_string(config.prompt_style));
  run_options.max_new_rows = options.max_new_rows;
  run_options.copy_equal_generations = options.copy_equal_generations;
  run_options.after_row = options.after_row;
  const auto dataset_of = [&](const Cell& cell) -> const LoadedDataset& {
    for (const LoadedDataset& dataset : datasets) {
      if (dataset.config->name == cell.dataset) return dataset;
    }
    throw Error(fmt::format("cell {} names an unknown dataset", cell.id()));
  };
  run_options.parse = [&](const Cell& cell, std::string_view raw) { return parse_prediction(dataset_of(cell), raw); };
  run_options.score = [&](const Cell& cell, std::string_view prediction, std::string_view gold) {
    return score_prediction(dataset_of(cell), prediction, gold);
  };

  const std::size_t missing = count_missing_rows(store, work, backends, run_options);
  record_precision_labels(config, cells, files, store);
  spdlog::info("{} cells, {} rows: {} already stored, {} to run, {} threads, store {}", cells.size(), result.rows,
               result.rows - missing, missing, threads, result.store_path.string());
  run_options.run_id = store.begin_run(describe_this_run(threads, config.seeds, options.config_path.string(),
                                                         options.command_line));
  ProgressReporter::Options progress_options;
  progress_options.is_terminal = ProgressReporter::stream_is_terminal(progress_out);
  ProgressReporter progress(progress_out, result.rows, result.rows - missing, progress_options);
  run_options.progress = &progress;
  result.summary = run_grid(store, work, backends, run_options);
  progress.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log_summary(result);
  return result;
}

}  // namespace qrag::experiment
