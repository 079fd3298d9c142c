// `qrag retrieve`: ranks each question's profile with a retriever and writes a TREC or JSON run.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/error.h"
#include "lamp/dataset.h"
#include "lamp/query.h"
#include "lamp/task.h"
#include "retrieval/embedding_cache.h"
#include "retrieval/encoder_registry.h"
#include "retrieval/retriever.h"
#include "retrieval/run_writer.h"

namespace qrag::cli {
namespace {

struct RetrieveOptions {
  std::string data;
  std::string questions;
  std::string task;
  std::string retriever = "bm25:okapi";
  std::size_t k = 5;
  std::string out;
  std::string format;  // "trec", "json" or empty (from the --out extension)
  std::size_t limit = 0;
  std::vector<std::string> encoders;  // NAME=PATH bindings for dense:NAME
  std::string embedding_cache;        // SQLite file, or empty for no cache
  int threads = 0;                    // 0 = the global setting
};

std::string choose_format(const RetrieveOptions& options) {
  if (!options.format.empty()) {
    if (options.format != "trec" && options.format != "json") {
      throw Error("invalid --format '" + options.format + "': expected trec or json");
    }
    return options.format;
  }
  const std::string extension = std::filesystem::path(options.out).extension().string();
  if (extension == ".json" || extension == ".jsonl") return "json";
  return "trec";
}

std::filesystem::path questions_path(const RetrieveOptions& options) {
  if (!options.questions.empty()) return options.questions;
  if (options.data.empty()) throw Error("give --data DIR (with dev_questions.json) or --questions FILE");
  return std::filesystem::path(options.data) / "dev_questions.json";
}

std::map<std::string, std::filesystem::path> encoder_names(const RetrieveOptions& options) {
  std::map<std::string, std::filesystem::path> names;
  for (const std::string& binding : options.encoders) {
    auto [name, path] = with_context("--encoder", [&] { return retrieval::parse_encoder_binding(binding); });
    if (!names.emplace(name, path).second) throw Error("--encoder: name '" + name + "' is given twice");
  }
  return names;
}

void run_retrieve(const RetrieveOptions& options, int threads) {
  const lamp::TaskInfo& task = lamp::task_info(lamp::parse_task(options.task));
  const std::filesystem::path path = questions_path(options);
  const std::string format = choose_format(options);

  retrieval::EncoderRegistryOptions registry_options;
  registry_options.threads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  retrieval::EncoderRegistry registry(encoder_names(options), registry_options);
  std::shared_ptr<retrieval::EmbeddingCache> cache;
  if (!options.embedding_cache.empty()) cache = std::make_shared<retrieval::EmbeddingCache>(options.embedding_cache);
  const std::unique_ptr<retrieval::Retriever> retriever =
      with_context("--retriever", [&] { return retrieval::make_retriever(options.retriever, registry.context(cache)); });
  const std::string tag = retriever->spec();
  if (cache && registry.n_loaded() == 0) spdlog::warn("--embedding-cache is unused: {} embeds no text", tag);

  std::ofstream file;
  if (!options.out.empty()) {
    file.open(options.out, std::ios::binary);
    if (!file) throw Error("cannot open " + options.out + " for writing");
  }
  std::ostream& out = options.out.empty() ? std::cout : file;

  spdlog::info("retrieving top {} with {} for {} questions of {}", options.k, tag, task.name, path.string());
  lamp::QuestionReader reader(path, task.id);
  lamp::Question question;
  std::size_t n_questions = 0;
  std::size_t n_empty_queries = 0;
  std::size_t n_clipped = 0;
  while ((options.limit == 0 || n_questions < options.limit) && reader.next(question)) {
    const std::string query = lamp::build_query(task, question);
    const std::vector<retrieval::Document> documents = lamp::retrieval_documents(task, question);
    const retrieval::RankResult result = with_context(
        path.string() + ": question " + std::to_string(question.index) + " (id " + question.id + ")",
        [&] { return retriever->rank(query, documents, options.k); });
    if (result.empty_query) ++n_empty_queries;
    if (result.k_clipped()) ++n_clipped;
    if (format == "trec") {
      retrieval::write_trec(out, question.id, documents, result, tag);
    } else {
      retrieval::write_jsonl(out, question.id, documents, result, tag);
    }
    ++n_questions;
  }
  out.flush();
  if (!out) throw Error("failed to write the run" + (options.out.empty() ? std::string() : " to " + options.out));
  spdlog::info("ranked {} questions ({} with fewer than {} profile items, {} with an empty query)", n_questions,
               n_clipped, options.k, n_empty_queries);
  if (registry.n_loaded() > 0) {
    spdlog::info("encoders embedded {} texts{}", registry.n_embedded(),
                 cache ? "; the others came from " + options.embedding_cache : std::string());
  }
}

}  // namespace

void register_retrieve(CLI::App& app, const GlobalOptions& global) {
  auto* cmd = app.add_subcommand("retrieve", "Rank each question's profile by the LaMP query rules and write a run");
  auto options = std::make_shared<RetrieveOptions>();
  cmd->add_option("--data", options->data, "Folder with dev_questions.json");
  cmd->add_option("--questions", options->questions, "Questions file (overrides --data)");
  cmd->add_option("--task", options->task, "Task name, e.g. LaMP_3 or LaMP_5")->required();
  cmd->add_option("--retriever", options->retriever,
                  "Retriever spec, e.g. bm25:okapi, recency, random?seed=7, dense:minilm, dense:models/minilm.gguf")
      ->capture_default_str();
  cmd->add_option("--k", options->k, "Number of profile items to rank per question")->capture_default_str();
  cmd->add_option("--out", options->out, "Output file (default: standard output)");
  cmd->add_option("--format", options->format,
                  "trec or json (JSON Lines); default from the --out extension (.json, .jsonl), else trec");
  cmd->add_option("--limit", options->limit, "Rank only the first N questions (0 = all)")->capture_default_str();
  cmd->add_option("--encoder", options->encoders,
                  "Name a GGUF encoder for dense specs, NAME=PATH (repeatable); dense:NAME then loads PATH");
  cmd->add_option("--embedding-cache", options->embedding_cache,
                  "SQLite file that stores embeddings by model and text, created when missing");
  cmd->add_option("-t,--threads", options->threads, "Encoder threads (0: the global setting, else one per core)")
      ->capture_default_str();
  cmd->callback([options, &global] { run_retrieve(*options, options->threads > 0 ? options->threads : global.threads); });
}

}  // namespace qrag::cli
