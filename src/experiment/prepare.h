// Turns an experiment config into runnable work: loaded datasets, rankings and rendered prompts per cell.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "experiment/config.h"
#include "experiment/engine_backend.h"
#include "experiment/grid.h"
#include "experiment/model_files.h"
#include "experiment/runner.h"
#include "lamp/dataset.h"
#include "lamp/parser.h"
#include "lamp/prompt_style.h"
#include "lamp/task.h"
#include "retrieval/encoder.h"
#include "retrieval/retriever.h"

namespace qrag::core {
class ThreadPool;
}

namespace qrag::experiment {

// One dataset in memory, with its gold outputs aligned to its questions.
struct LoadedDataset {
  const DatasetConfig* config = nullptr;
  const lamp::TaskInfo* task = nullptr;
  std::vector<lamp::Question> questions;
  std::vector<std::string> golds;  // [questions.size()]; "" where the split has no gold
  lamp::ParserOptions parser;
  std::string parser_name;         // the resolved name, part of every row key
};

// The LaMP task of a config task number: 1..7, where 2 is the movie-tagging LaMP-2.
lamp::TaskId task_of_number(int task);

// Loads every dataset of `config`. `limit` > 0 caps each dataset at that many questions
// (taking the smaller of it and the dataset's own limit). Golds come from the outputs
// file when given, else from the questions' own "output" fields. An outputs file that
// lacks a question's id is an error naming both files.
std::vector<LoadedDataset> load_datasets(const ExperimentConfig& config, std::size_t limit);

// Output parsing and per-question scores for the runner (RunOptions::parse/score).
std::string parse_prediction(const LoadedDataset& dataset, std::string_view raw_output);
std::map<std::string, double> score_prediction(const LoadedDataset& dataset, std::string_view prediction,
                                               std::string_view gold);

// Folders searched for prompt style files, in order: prompts/ next to the config, ../prompts
// from it, the QRAG_PROMPTS_DIR environment variable, and the source tree's prompts/.
std::vector<std::filesystem::path> prompt_search_dirs(const ExperimentConfig& config);

// Retrieves and renders the prompts of cells. Rankings are computed once per
// (dataset, retriever) and rendered prompts once per cell without its precision, so
// precisions of one model share them. Borrows everything; not thread-safe.
class PromptPreparer {
 public:
  PromptPreparer(const ExperimentConfig& config, const std::vector<LoadedDataset>& datasets, ModelFiles& files,
                 core::ThreadPool& pool, const EngineBackendOptions& backend_options);
  ~PromptPreparer();

  // The work of `cells`, in the same order.
  std::vector<CellWork> prepare(const std::vector<Cell>& cells);

 private:
  struct ModelText;
  const LoadedDataset& dataset(const std::string& name) const;
  const std::vector<std::vector<std::size_t>>& rankings(const LoadedDataset& dataset, const std::string& retriever);
  ModelText& model_text(const std::string& model);
  std::vector<PreparedPrompt> render(const Cell& cell);

  const ExperimentConfig* config_;
  const std::vector<LoadedDataset>* datasets_;
  ModelFiles* files_;
  core::ThreadPool* pool_;
  EngineBackendOptions backend_options_;
  lamp::PromptStyle style_;
  retrieval::RetrieverContext retrieval_context_;  // dense encoders by name, shared embedding cache
  std::map<std::string, std::shared_ptr<retrieval::Encoder>> encoders_;  // loaded encoders by name
  std::map<std::string, std::vector<std::vector<std::size_t>>> rankings_;  // "dataset\nretriever" -> [question][rank]
  std::map<std::string, std::unique_ptr<ModelText>> models_;
  std::map<std::string, std::vector<PreparedPrompt>> rendered_;  // Cell::pair_id() -> prompts
};

}  // namespace qrag::experiment
