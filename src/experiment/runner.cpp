// The resumable grid loop: skip stored rows, reuse equal generations, generate the rest.
#include "experiment/runner.h"

#include <algorithm>
#include <map>
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

// Builds the new row for one prompt; `reused` tells whether a stored output was copied.
ResultRow make_row(const CellWork& work, const PreparedPrompt& prompt, const RowKeys& keys,
                   const std::string& model_hash, const ResultStore& store, BackendProvider& backends,
                   const RunOptions& options, bool& reused, GenerationResult& generated) {
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

  if (const std::optional<ResultRow> earlier = store.find_generation(keys.generation)) {
    copy_generation(*earlier, row);
    reused = true;
  } else {
    CellBackend& backend = backends.backend(work.cell.model, work.cell.precision);
    GenerationRequest request{prompt.prompt, options.decoding, work.cell.seed, kTopLogprobs};
    generated = backend.generate(request);
    copy_generation(generated, row);
    reused = false;
  }
  row.prediction = options.parse ? options.parse(work.cell, row.raw_output) : row.raw_output;
  if (options.score && !row.gold.empty()) row.scores = options.score(work.cell, row.prediction, row.gold);
  return row;
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

}  // namespace

RunSummary run_grid(ResultStore& store, const std::vector<CellWork>& work, BackendProvider& backends,
                    const RunOptions& options) {
  RunSummary summary;
  std::map<std::pair<std::string, std::string>, std::string> hashes;  // (model, precision) -> file hash
  for (const RowRef& ref : execution_order(work)) {
    const CellWork& cell_work = work[ref.cell];
    const PreparedPrompt& prompt = cell_work.prompts[ref.prompt];
    const auto hash_key = std::make_pair(cell_work.cell.model, cell_work.cell.precision);
    if (!hashes.contains(hash_key)) hashes[hash_key] = backends.model_hash(hash_key.first, hash_key.second);
    const std::string& model_hash = hashes[hash_key];

    const RowKeys keys = keys_for(cell_work, prompt, model_hash, options);
    if (store.has(keys.row)) {
      ++summary.skipped;
      continue;
    }
    if (options.max_new_rows > 0 && summary.computed + summary.reused >= options.max_new_rows) {
      summary.stopped_early = true;
      spdlog::info("stopping after {} new rows as requested", options.max_new_rows);
      return summary;
    }
    bool reused = false;
    GenerationResult generated;
    const ResultRow row = with_context(fmt::format("cell {} question '{}'", cell_work.cell.id(), prompt.question_id),
                                       [&] {
                                         return make_row(cell_work, prompt, keys, model_hash, store, backends,
                                                         options, reused, generated);
                                       });
    store.put(row);
    ++(reused ? summary.reused : summary.computed);
    if (!reused) {
      summary.prefill_computed += generated.prompt_tokens - generated.reused_prompt_tokens;
      summary.prefill_reused += generated.reused_prompt_tokens;
    }
    if (options.progress != nullptr) options.progress->advance(1, reused ? 0 : row.generated_tokens);
    if (options.after_row) options.after_row(summary.computed + summary.reused);
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
