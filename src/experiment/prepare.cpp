// Loads datasets, ranks profiles once per retriever and renders every cell's prompts with the model's tokenizer.
#include "experiment/prepare.h"

#include <cmath>
#include <cstdlib>

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "core/build_info.h"
#include "core/error.h"
#include "gguf/gguf_file.h"
#include "lamp/prompt.h"
#include "lamp/prompt_style.h"
#include "lamp/query.h"
#include "lamp/token_counter.h"
#include "metrics/metrics.h"
#include "metrics/rouge.h"
#include "retrieval/embedder_encoder.h"
#include "retrieval/embedding_cache.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace qrag::experiment {
namespace {

namespace fs = std::filesystem;

lamp::ParserOptions resolve_parser(const lamp::TaskInfo& task, const std::string& name, std::string& resolved) {
  lamp::ParserOptions options;
  resolved = name == "auto" ? "official" : name;
  switch (task.kind) {
    case lamp::TaskKind::kRating: options.rating = lamp::parse_rating_parser(resolved); break;
    case lamp::TaskKind::kClassification: options.label = lamp::parse_label_parser(resolved); break;
    case lamp::TaskKind::kGeneration:
      if (resolved == "first-line") {
        options.generation.cut_at_newline = true;
      } else if (resolved != "official") {
        throw Error(fmt::format("unknown parser '{}' for {}: expected official or first-line", name, task.name));
      }
      break;
  }
  return options;
}

std::vector<std::string> align_golds(const DatasetConfig& config, const std::vector<lamp::Question>& questions) {
  std::vector<std::string> golds(questions.size());
  if (!config.outputs) {
    for (std::size_t i = 0; i < questions.size(); ++i) golds[i] = questions[i].output.value_or("");
    return golds;
  }
  const lamp::OutputSet outputs = lamp::load_outputs(*config.outputs);
  std::map<std::string, std::string> by_id(outputs.items.begin(), outputs.items.end());
  for (std::size_t i = 0; i < questions.size(); ++i) {
    const auto found = by_id.find(questions[i].id);
    if (found == by_id.end()) {
      throw Error(fmt::format("dataset '{}': question '{}' of {} has no gold output in {}", config.name,
                              questions[i].id, config.questions.string(), config.outputs->string()));
    }
    golds[i] = found->second;
  }
  return golds;
}

// The item's id, or its profile index when it has none (as lamp::retrieval_documents does).
std::string item_id(const lamp::Question& question, std::size_t index) {
  const std::string& id = question.profile.at(index).id;
  return id.empty() ? std::to_string(index) : id;
}

}  // namespace

lamp::TaskId task_of_number(int task) {
  switch (task) {
    case 1: return lamp::TaskId::kLamp1;
    case 2: return lamp::TaskId::kLamp2Movies;
    case 3: return lamp::TaskId::kLamp3;
    case 4: return lamp::TaskId::kLamp4;
    case 5: return lamp::TaskId::kLamp5;
    case 6: return lamp::TaskId::kLamp6;
    case 7: return lamp::TaskId::kLamp7;
    default: throw Error(fmt::format("LaMP task {} does not exist: expected 1 to 7", task));
  }
}

std::vector<LoadedDataset> load_datasets(const ExperimentConfig& config, std::size_t limit) {
  std::vector<LoadedDataset> datasets;
  for (const DatasetConfig& dataset_config : config.datasets) {
    LoadedDataset dataset;
    dataset.config = &dataset_config;
    dataset.task = &lamp::task_info(task_of_number(dataset_config.task));
    std::size_t n = dataset_config.limit;
    if (limit > 0) n = n > 0 ? std::min(n, limit) : limit;
    dataset.questions = lamp::load_questions(dataset_config.questions, dataset.task->id, n);
    dataset.golds = align_golds(dataset_config, dataset.questions);
    dataset.parser = with_context(fmt::format("dataset '{}'", dataset_config.name), [&] {
      return resolve_parser(*dataset.task, dataset_config.parser, dataset.parser_name);
    });
    spdlog::info("dataset '{}': {} questions of {} from {}", dataset_config.name, dataset.questions.size(),
                 dataset.task->name, dataset_config.questions.string());
    datasets.push_back(std::move(dataset));
  }
  return datasets;
}

std::string parse_prediction(const LoadedDataset& dataset, std::string_view raw_output) {
  return lamp::parse_output(raw_output, *dataset.task, dataset.parser).prediction;
}

std::map<std::string, double> score_prediction(const LoadedDataset& dataset, std::string_view prediction,
                                               std::string_view gold) {
  std::map<std::string, double> scores;
  switch (dataset.task->kind) {
    case lamp::TaskKind::kRating: {
      const auto gold_value = metrics::python_float(gold);
      if (!gold_value) throw Error(fmt::format("gold rating '{}' is not a number", gold));
      const double value = metrics::rating_value(prediction, *gold_value);
      const double error = value - *gold_value;
      scores["abs_error"] = std::abs(error);
      scores["squared_error"] = error * error;
      scores["correct"] = error == 0.0 ? 1.0 : 0.0;
      break;
    }
    case lamp::TaskKind::kClassification:
      scores["correct"] = lamp::strip(prediction) == lamp::strip(gold) ? 1.0 : 0.0;
      break;
    case lamp::TaskKind::kGeneration: {
      const std::vector<std::string> target = metrics::rouge_tokenize(gold);
      const std::vector<std::string> predicted = metrics::rouge_tokenize(prediction);
      scores["rouge1"] = metrics::rouge_n(target, predicted, 1).fmeasure;
      scores["rougeL"] = metrics::rouge_l(target, predicted).fmeasure;
      break;
    }
  }
  return scores;
}

std::vector<fs::path> prompt_search_dirs(const ExperimentConfig& config) {
  // Not the config's own folder: an experiment file there may share a style's name.
  std::vector<fs::path> dirs{config.source.parent_path() / "prompts", config.source.parent_path() / ".." / "prompts"};
  if (const char* env = std::getenv("QRAG_PROMPTS_DIR"); env != nullptr && *env != '\0') dirs.emplace_back(env);
  dirs.push_back(fs::path(core::kSourceDir) / "prompts");
  return dirs;
}

// The parts of one model that rendering uses: its tokenizer, context length and chat format.
struct PromptPreparer::ModelText {
  gguf::GgufFile file;
  tokenizer::Tokenizer tokenizer;
  lamp::TokenizerCounter counter;
  std::size_t context_tokens = 0;
  std::optional<tokenizer::ChatTemplate> chat_template;

  explicit ModelText(const fs::path& path)
      : file(gguf::GgufFile::open(path)), tokenizer(tokenizer::Tokenizer::from_gguf(file)), counter(tokenizer) {}
};

PromptPreparer::PromptPreparer(const ExperimentConfig& config, const std::vector<LoadedDataset>& datasets,
                               ModelFiles& files, core::ThreadPool& pool, const EngineBackendOptions& backend_options)
    : config_(&config), datasets_(&datasets), files_(&files), pool_(&pool), backend_options_(backend_options) {
  style_ = lamp::load_prompt_style(
      lamp::find_prompt_style(to_string(config.prompt_style), prompt_search_dirs(config)));
  // Encoders are loaded once per name and shared by the retrievers of every dataset.
  retrieval_context_.load_encoder = [this](const std::string& name) -> std::shared_ptr<retrieval::Encoder> {
    if (const auto found = encoders_.find(name); found != encoders_.end()) return found->second;
    fs::path file = name;
    for (const EncoderConfig& encoder : config_->encoders) {
      if (encoder.name == name) file = files_->encoder_file(encoder);
    }
    auto encoder = std::make_shared<retrieval::EmbedderEncoder>(file, *pool_);
    encoders_.emplace(name, encoder);
    return encoder;
  };
  if (std::any_of(config.retrievers.begin(), config.retrievers.end(),
                  [](const RetrieverSpec& spec) { return spec.family == "dense"; })) {
    fs::create_directories(files.cache_dir());
    retrieval_context_.cache = std::make_shared<retrieval::EmbeddingCache>(files.cache_dir() / "embeddings.sqlite");
  }
}

PromptPreparer::~PromptPreparer() = default;

const LoadedDataset& PromptPreparer::dataset(const std::string& name) const {
  for (const LoadedDataset& dataset : *datasets_) {
    if (dataset.config->name == name) return dataset;
  }
  throw Error(fmt::format("dataset '{}' is not loaded", name));
}

const std::vector<std::vector<std::size_t>>& PromptPreparer::rankings(const LoadedDataset& dataset,
                                                                       const std::string& retriever_spec) {
  const std::string key = dataset.config->name + "\n" + retriever_spec;
  if (const auto found = rankings_.find(key); found != rankings_.end()) return found->second;

  spdlog::info("ranking the profiles of '{}' with {}", dataset.config->name, retriever_spec);
  const auto retriever = retrieval::make_retriever(retriever_spec, retrieval_context_);
  std::vector<std::vector<std::size_t>> result;
  result.reserve(dataset.questions.size());
  for (const lamp::Question& question : dataset.questions) {
    const std::string query = lamp::build_query(*dataset.task, question);
    const std::vector<retrieval::Document> documents = lamp::retrieval_documents(*dataset.task, question);
    const retrieval::RankResult ranked = with_context(
        fmt::format("retriever {} on question '{}'", retriever_spec, question.id),
        [&] { return retriever->rank(query, documents, documents.size()); });
    std::vector<std::size_t> order;
    order.reserve(ranked.ranking.size());
    for (const retrieval::Ranked& item : ranked.ranking) order.push_back(item.index);
    result.push_back(std::move(order));
  }
  return rankings_.emplace(key, std::move(result)).first->second;
}

PromptPreparer::ModelText& PromptPreparer::model_text(const std::string& name) {
  if (const auto found = models_.find(name); found != models_.end()) return *found->second;
  const auto model = std::find_if(config_->models.begin(), config_->models.end(),
                                  [&](const ModelConfig& m) { return m.name == name; });
  if (model == config_->models.end()) throw Error(fmt::format("model '{}' is not in the experiment config", name));
  if (!fs::exists(model->path)) {
    throw Error(fmt::format("model '{}' file '{}' not found (check the path in {}; scripts/setup.sh installs the "
                            "demo models)", name, model->path.string(), config_->source.string()));
  }
  auto text = std::make_unique<ModelText>(model->path);
  const auto arch = text->file.architecture();
  const auto n_ctx_train = text->file.find_uint(arch + ".context_length").value_or(0);
  text->context_tokens = static_cast<std::size_t>(resolve_context(static_cast<std::int64_t>(n_ctx_train),
                                                                  backend_options_));
  if (style_.chat) {
    const auto jinja = text->file.find_string("tokenizer.chat_template");
    if (jinja) text->chat_template = tokenizer::detect_chat_template(*jinja);
    if (!text->chat_template) {
      throw Error(fmt::format("prompt style '{}' renders a chat, but model '{}' has no chat template of a known "
                              "family", style_.name, name));
    }
  }
  return *models_.emplace(name, std::move(text)).first->second;
}

std::vector<PreparedPrompt> PromptPreparer::render(const Cell& cell) {
  const LoadedDataset& data = dataset(cell.dataset);
  const auto& ranked = rankings(data, cell.retriever);
  ModelText& text = model_text(cell.model);

  lamp::PromptOptions options;
  options.k.count = cell.k.is_max ? std::nullopt : std::optional<std::size_t>(cell.k.count);
  options.order = lamp::parse_item_order(to_string(cell.order));
  options.seed = cell.seed;
  options.context_tokens = text.context_tokens;
  options.reserved_output_tokens = static_cast<std::size_t>(config_->decoding.max_new_tokens);
  options.item_budget_tokens = text.context_tokens - std::min(text.context_tokens, options.reserved_output_tokens);
  options.chat_template = text.chat_template;

  std::vector<PreparedPrompt> prompts;
  prompts.reserve(data.questions.size());
  for (std::size_t q = 0; q < data.questions.size(); ++q) {
    const lamp::Question& question = data.questions[q];
    const lamp::RenderedPrompt rendered = lamp::render_prompt(style_, *data.task, question, ranked[q], options,
                                                              text.counter);
    if (rendered.over_budget) {
      throw Error(fmt::format("question '{}' of '{}' does not fit the context of {} tokens even without profile "
                              "items (raise max_prompt_tokens or lower max_new_tokens)",
                              question.id, cell.dataset, text.context_tokens));
    }
    PreparedPrompt prompt;
    prompt.question_id = question.id;
    prompt.prompt = rendered.text;
    for (const std::size_t index : rendered.items) prompt.doc_ids.push_back(item_id(question, index));
    prompt.truncated = rendered.lost_content();
    prompt.prompt_tokens = rendered.n_prompt_tokens;
    prompt.gold = data.golds[q];
    prompts.push_back(std::move(prompt));
  }
  return prompts;
}

std::vector<CellWork> PromptPreparer::prepare(const std::vector<Cell>& cells) {
  std::vector<CellWork> work;
  work.reserve(cells.size());
  for (const Cell& cell : cells) {
    CellWork item;
    item.cell = cell;
    item.parser = dataset(cell.dataset).parser_name;
    // Precisions of a model share the tokenizer, so their prompts are rendered once.
    const std::string shared = cell.pair_id();
    auto found = rendered_.find(shared);
    if (found == rendered_.end()) {
      found = rendered_.emplace(shared, with_context(fmt::format("cell {}", cell.id()), [&] { return render(cell); }))
                  .first;
    }
    item.prompts = found->second;
    work.push_back(std::move(item));
  }
  return work;
}

}  // namespace qrag::experiment
