// The resumable grid loop: skip stored rows, reuse equal generations, generate the rest.
#include "experiment/runner.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "core/build_info.h"
#include "core/error.h"
#include "experiment/key.h"

namespace qrag::experiment {
namespace {

struct RowKeys {
  std::string row;
  std::string generation;
};

RowKeys keys_for(const CellWork& work, const PreparedPrompt& prompt, const std::string& model_hash,
                 const RunOptions& options) {
  GenerationInputs inputs;
  inputs.model_hash = model_hash;
  inputs.precision = work.cell.precision;
  inputs.prompt = prompt.prompt;
  inputs.decoding = options.decoding;
  inputs.seed = work.cell.seed;
  inputs.qrag_version = options.qrag_version.empty() ? std::string(core::kVersion) : options.qrag_version;
  return RowKeys{row_key(inputs, prompt.question_id, work.cell, options.prompt_style, work.parser),
                 generation_key(inputs)};
}

void copy_generation(const ResultRow& source, ResultRow& row) {
  row.raw_output = source.raw_output;
  row.prompt_tokens = source.prompt_tokens;
  row.generated_tokens = source.generated_tokens;
  row.ttft_ms = source.ttft_ms;
  row.prefill_tokens_per_s = source.prefill_tokens_per_s;
  row.decode_tokens_per_s = source.decode_tokens_per_s;
  row.peak_memory_bytes = source.peak_memory_bytes;
  row.kv_cache_bytes = source.kv_cache_bytes;
  row.first_step = source.first_step;
}

void copy_generation(const GenerationResult& source, ResultRow& row) {
  row.raw_output = source.text;
  row.prompt_tokens = source.prompt_tokens;
  row.generated_tokens = source.generated_tokens;
  row.ttft_ms = source.ttft_ms;
  row.prefill_tokens_per_s = source.prefill_tokens_per_s;
  row.decode_tokens_per_s = source.decode_tokens_per_s;
  row.peak_memory_bytes = source.peak_memory_bytes;
  row.kv_cache_bytes = source.kv_cache_bytes;
  row.first_step = source.first_step;
}

// The fields of a new row that do not depend on its generation.
ResultRow start_row(const CellWork& work, const PreparedPrompt& prompt, const RowKeys& keys,
                    const std::string& model_hash, const RunOptions& options) {
  ResultRow row;
  row.key = keys.row;
  row.generation_key = keys.generation;
  row.run_id = options.run_id;
  row.question_id = prompt.question_id;
  row.cell = work.cell;
  row.model_hash = model_hash;
  row.doc_ids = prompt.doc_ids;
  row.truncated = prompt.truncated;
  row.gold = prompt.gold;
  return row;
}

// Parses and scores a row whose generation fields are filled.
void finish_row(const CellWork& work, const RunOptions& options, ResultRow& row) {
  row.prediction = options.parse ? options.parse(work.cell, row.raw_output) : row.raw_output;
  if (options.score && !row.gold.empty()) row.scores = options.score(work.cell, row.prediction, row.gold);
}

// One row to run: a cell of the work list and a prompt of that cell.
struct RowRef {
  std::size_t cell = 0;
  std::size_t prompt = 0;
};

// The order documented at run_grid: (model, precision) groups in order of first
// appearance, then question position, then prompt text descending.
std::vector<RowRef> execution_order(const std::vector<CellWork>& work) {
  std::map<std::pair<std::string, std::string>, std::size_t> group_of;
  std::map<std::string, std::size_t> dataset_of;
  std::vector<std::size_t> cell_group(work.size());
  std::vector<std::size_t> cell_dataset(work.size());
  for (std::size_t i = 0; i < work.size(); ++i) {
    const auto key = std::make_pair(work[i].cell.model, work[i].cell.precision);
    cell_group[i] = group_of.emplace(key, group_of.size()).first->second;
    cell_dataset[i] = dataset_of.emplace(work[i].cell.dataset, dataset_of.size()).first->second;
  }
  std::vector<RowRef> order;
  for (std::size_t i = 0; i < work.size(); ++i) {
    for (std::size_t j = 0; j < work[i].prompts.size(); ++j) order.push_back({i, j});
  }
  std::stable_sort(order.begin(), order.end(), [&](const RowRef& a, const RowRef& b) {
    if (cell_group[a.cell] != cell_group[b.cell]) return cell_group[a.cell] < cell_group[b.cell];
    if (cell_dataset[a.cell] != cell_dataset[b.cell]) return cell_dataset[a.cell] < cell_dataset[b.cell];
    if (a.prompt != b.prompt) return a.prompt < b.prompt;
    return work[a.cell].prompts[a.prompt].prompt > work[b.cell].prompts[b.prompt].prompt;
  });
  return order;
}

// One row of a wave and the KV-cache slot (0 .. batch - 1) of its question.
struct WaveRow {
  RowRef ref;
  int slot = 0;
};

// Cuts the execution order into waves. Each (model, precision, dataset) run of rows is
// split into blocks of `batch` consecutive questions, and wave j of a block contains the
// j-th row of each of its questions. A question keeps one slot for all its rows, so its
// prompts, longest first, extend the prefix cached in that slot.
std::vector<std::vector<WaveRow>> make_waves(const std::vector<CellWork>& work, std::size_t batch) {
  const std::vector<RowRef> order = execution_order(work);
  const auto segment_of = [&](const RowRef& ref) {
    const Cell& cell = work[ref.cell].cell;
    return std::make_tuple(cell.model, cell.precision, cell.dataset);
  };
  std::vector<std::vector<WaveRow>> waves;
  std::size_t begin = 0;
  while (begin < order.size()) {
    // One block: rows of the same segment whose question positions are the next `batch` ones.
    std::vector<std::vector<RowRef>> questions;  // [question in block][row], in execution order
    std::size_t end = begin;
    while (end < order.size() && segment_of(order[end]) == segment_of(order[begin])) {
      if (questions.empty() || order[end].prompt != order[end - 1].prompt) {
        if (questions.size() == batch) break;
        questions.emplace_back();
      }
      questions.back().push_back(order[end]);
      ++end;
    }
    std::size_t longest = 0;
    for (const auto& rows : questions) longest = std::max(longest, rows.size());
    for (std::size_t j = 0; j < longest; ++j) {
      std::vector<WaveRow> wave;
      for (std::size_t q = 0; q < questions.size(); ++q) {
        if (j < questions[q].size()) wave.push_back({questions[q][j], static_cast<int>(q)});
      }
      waves.push_back(std::move(wave));
    }
    begin = end;
  }
  return waves;
}

// A row that needs a backend call, with what is already known of it.
struct PendingRow {
  WaveRow wave_row;
  ResultRow row;
};

// Generates `pending` (rows of one model and precision) in batches of equal seed, then
// stores each row. Errors name the cell and question of the batch's first row.
void generate_pending(ResultStore& store, const std::vector<CellWork>& work, std::vector<PendingRow>& pending,
                      BackendProvider& backends, const RunOptions& options, RunSummary& summary) {
  std::map<std::uint64_t, std::vector<std::size_t>> by_seed;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    by_seed[work[pending[i].wave_row.ref.cell].cell.seed].push_back(i);
  }
  for (const auto& [seed, indices] : by_seed) {
    const PendingRow& first = pending[indices.front()];
    const Cell& first_cell = work[first.wave_row.ref.cell].cell;
    std::vector<GenerationRequest> requests;
    std::vector<int> slots;
    for (const std::size_t i : indices) {
      const RowRef& ref = pending[i].wave_row.ref;
      requests.push_back({work[ref.cell].prompts[ref.prompt].prompt, options.decoding, seed, kTopLogprobs});
      slots.push_back(pending[i].wave_row.slot);
    }
    const std::string context = fmt::format("cell {} question '{}'{}", first_cell.id(), first.row.question_id,
                                            indices.size() > 1 ? fmt::format(" (batch of {})", indices.size()) : "");
    const std::vector<GenerationResult> results = with_context(context, [&] {
      CellBackend& backend = backends.backend(first_cell.model, first_cell.precision);
      return backend.generate_batch(requests, slots);
    });
    for (std::size_t n = 0; n < indices.size(); ++n) {
      PendingRow& item = pending[indices[n]];
      const CellWork& cell_work = work[item.wave_row.ref.cell];
      copy_generation(results[n], item.row);
      with_context(fmt::format("cell {} question '{}'", cell_work.cell.id(), item.row.question_id),
                   [&] { finish_row(cell_work, options, item.row); });
      store.put(item.row);
      ++summary.computed;
      summary.prefill_computed += results[n].prompt_tokens - results[n].reused_prompt_tokens;
      summary.prefill_reused += results[n].reused_prompt_tokens;
      if (options.progress != nullptr) options.progress->advance(1, item.row.generated_tokens);
      if (options.after_row) options.after_row(summary.computed + summary.reused);
    }
  }
}

}  // namespace

std::vector<GenerationResult> CellBackend::generate_batch(std::span<const GenerationRequest> requests,
                                                          std::span<const int> /*slots*/) {
  std::vector<GenerationResult> results;
  results.reserve(requests.size());
  for (const GenerationRequest& request : requests) results.push_back(generate(request));
  return results;
}

RunSummary run_grid(ResultStore& store, const std::vector<CellWork>& work, BackendProvider& backends,
                    const RunOptions& options) {
  RunSummary summary;
  std::map<std::pair<std::string, std::string>, std::string> hashes;  // (model, precision) -> file hash
  for (const std::vector<WaveRow>& wave : make_waves(work, std::max<std::size_t>(1, backends.batch_size()))) {
    std::vector<PendingRow> pending;
    for (const WaveRow& wave_row : wave) {
      const CellWork& cell_work = work[wave_row.ref.cell];
      const PreparedPrompt& prompt = cell_work.prompts[wave_row.ref.prompt];
      const auto hash_key = std::make_pair(cell_work.cell.model, cell_work.cell.precision);
      if (!hashes.contains(hash_key)) hashes[hash_key] = backends.model_hash(hash_key.first, hash_key.second);
      const RowKeys keys = keys_for(cell_work, prompt, hashes[hash_key], options);
      if (store.has(keys.row)) {
        ++summary.skipped;
        continue;
      }
      if (options.max_new_rows > 0 && summary.computed + summary.reused + pending.size() >= options.max_new_rows) {
        summary.stopped_early = true;
        break;
      }
      ResultRow row = start_row(cell_work, prompt, keys, hashes[hash_key], options);
      const std::optional<ResultRow> earlier =
          options.copy_equal_generations ? store.find_generation(keys.generation) : std::nullopt;
      if (earlier) {
        copy_generation(*earlier, row);
        with_context(fmt::format("cell {} question '{}'", cell_work.cell.id(), prompt.question_id),
                     [&] { finish_row(cell_work, options, row); });
        store.put(row);
        ++summary.reused;
        if (options.progress != nullptr) options.progress->advance(1, 0);
        if (options.after_row) options.after_row(summary.computed + summary.reused);
        continue;
      }
      pending.push_back({wave_row, std::move(row)});
    }
    generate_pending(store, work, pending, backends, options, summary);
    if (summary.stopped_early) {
      spdlog::info("stopping after {} new rows as requested", options.max_new_rows);
      return summary;
    }
  }
  return summary;
}

std::size_t count_missing_rows(const ResultStore& store, const std::vector<CellWork>& work,
                               BackendProvider& backends, const RunOptions& options) {
  std::size_t missing = 0;
  for (const CellWork& cell_work : work) {
    const std::string model_hash = backends.model_hash(cell_work.cell.model, cell_work.cell.precision);
    for (const PreparedPrompt& prompt : cell_work.prompts) {
      if (!store.has(keys_for(cell_work, prompt, model_hash, options).row)) ++missing;
    }
  }
  return missing;
}

}  // namespace qrag::experiment
