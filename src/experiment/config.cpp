// Parses and validates experiment TOML files with toml++ (errors carry file and line).
#include "experiment/config.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <iterator>
#include <set>

#include <fmt/core.h>
#include <toml++/toml.h>

#include "core/error.h"

namespace qrag::experiment {
namespace {

constexpr std::array<std::string_view, 4> kRetrieverFamilies = {"bm25", "dense", "recency", "random"};
constexpr std::array<std::string_view, 17> kPrecisions = {
    "stored", "f32",  "f16",  "bf16", "q8_0", "q4_0", "q4_1", "q5_0",  "q5_1",
    "q2_k",   "q3_k", "q4_k", "q5_k", "q6_k", "q8_k", "iq4_nl", "tq2_0"};

// Wraps one TOML table: typed getters that name the key and line on errors, and a
// final check that every key in the table was consumed.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string path, const std::filesystem::path& source)
      : table_(table), path_(std::move(path)), source_(source) {}

  [[noreturn]] void fail(const toml::source_region& where, std::string_view key, std::string_view message) const {
    throw Error(fmt::format("{}:{}: key '{}': {}", source_.string(), where.begin.line, qualified(key), message));
  }
  [[noreturn]] void fail_missing(std::string_view key) const {
    throw Error(fmt::format("{}:{}: missing required key '{}'", source_.string(), table_.source().begin.line,
                            qualified(key)));
  }

  std::string qualified(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  const toml::node* find(std::string_view key) {
    used_.insert(std::string(key));
    return table_.get(key);
  }

  std::optional<std::string> get_string(std::string_view key) {
    const toml::node* node = find(key);
    if (node == nullptr) return std::nullopt;
    if (!node->is_string()) fail(node->source(), key, "expected a string");
    return node->value<std::string>();
  }

  std::optional<std::int64_t> get_integer(std::string_view key, std::int64_t min, std::int64_t max) {
    const toml::node* node = find(key);
    if (node == nullptr) return std::nullopt;
    if (!node->is_integer()) fail(node->source(), key, "expected an integer");
    const std::int64_t value = *node->value<std::int64_t>();
    if (value < min || value > max) {
      fail(node->source(), key, fmt::format("value {} is outside the valid range [{}, {}]", value, min, max));
    }
    return value;
  }

  std::optional<double> get_number(std::string_view key, double min, double max) {
    const toml::node* node = find(key);
    if (node == nullptr) return std::nullopt;
    if (!node->is_number()) fail(node->source(), key, "expected a number");
    const double value = *node->value<double>();
    if (!std::isfinite(value) || value < min || value > max) {
      fail(node->source(), key, fmt::format("value {} is outside the valid range [{}, {}]", value, min, max));
    }
    return value;
  }

  // A non-empty array; each element is passed to `each(node, index)`.
  template <typename Fn>
  bool for_each_element(std::string_view key, Fn&& each) {
    const toml::node* node = find(key);
    if (node == nullptr) return false;
    const toml::array* array = node->as_array();
    if (array == nullptr) fail(node->source(), key, "expected an array");
    if (array->empty()) fail(node->source(), key, "expected a non-empty array");
    for (std::size_t i = 0; i < array->size(); ++i) each(*array->get(i), i);
    return true;
  }

  std::vector<std::string> get_string_array(std::string_view key) {
    std::vector<std::string> values;
    for_each_element(key, [&](const toml::node& element, std::size_t i) {
      if (!element.is_string()) fail(element.source(), fmt::format("{}[{}]", key, i), "expected a string");
      values.push_back(*element.value<std::string>());
    });
    return values;
  }

  void reject_unknown_keys() const {
    for (auto&& [key, node] : table_) {
      if (!used_.contains(std::string(key.str()))) {
        fail(key.source(), key.str(), "unknown key (check its spelling and section; docs/cli.md lists the keys)");
      }
    }
  }

  const toml::table& table() const { return table_; }
  const std::filesystem::path& source() const { return source_; }

 private:
  const toml::table& table_;
  std::string path_;
  const std::filesystem::path& source_;
  std::set<std::string> used_;
};

std::filesystem::path resolve(const std::filesystem::path& source, const std::string& value) {
  std::filesystem::path path(value);
  if (path.is_relative()) path = source.parent_path() / path;
  return path.lexically_normal();
}

const toml::table* sub_table(TableReader& parent, std::string_view key) {
  const toml::node* node = parent.find(key);
  if (node == nullptr) return nullptr;
  if (!node->is_table()) parent.fail(node->source(), key, "expected a table ([section])");
  return node->as_table();
}

template <typename Fn>
void for_each_table_in_array(TableReader& parent, std::string_view key, Fn&& each) {
  parent.for_each_element(key, [&](const toml::node& element, std::size_t i) {
    if (!element.is_table()) parent.fail(element.source(), fmt::format("{}[{}]", key, i), "expected a table");
    each(*element.as_table(), fmt::format("{}[{}]", key, i));
  });
}

DatasetConfig read_dataset(const toml::table& table, const std::string& path, const std::filesystem::path& source) {
  TableReader reader(table, path, source);
  DatasetConfig dataset;
  dataset.name = reader.get_string("name").value_or("");
  if (dataset.name.empty()) reader.fail_missing("name");
  const auto task = reader.get_integer("task", 1, 7);
  if (!task) reader.fail_missing("task");
  dataset.task = static_cast<int>(*task);
  const auto questions = reader.get_string("questions");
  if (!questions) reader.fail_missing("questions");
  dataset.questions = resolve(source, *questions);
  if (const auto outputs = reader.get_string("outputs")) dataset.outputs = resolve(source, *outputs);
  dataset.parser = reader.get_string("parser").value_or("auto");
  dataset.limit = static_cast<std::size_t>(reader.get_integer("limit", 0, 100'000'000).value_or(0));
  reader.reject_unknown_keys();
  return dataset;
}

// Lower-cases `precision` and checks it against kPrecisions; `key` names it in errors.
void check_precision(TableReader& reader, const toml::source_region& where, const std::string& key,
                     std::string& precision) {
  std::transform(precision.begin(), precision.end(), precision.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (std::find(kPrecisions.begin(), kPrecisions.end(), precision) == kPrecisions.end()) {
    reader.fail(where, key,
                fmt::format("unknown precision '{}' (use stored, f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, "
                            "q2_k..q6_k, iq4_nl)", precision));
  }
}

EncoderConfig read_encoder(const toml::table& table, const std::string& path, const std::filesystem::path& source) {
  TableReader reader(table, path, source);
  EncoderConfig encoder;
  encoder.name = reader.get_string("name").value_or("");
  if (encoder.name.empty()) reader.fail_missing("name");
  const auto file = reader.get_string("path");
  if (!file) reader.fail_missing("path");
  encoder.path = resolve(source, *file);
  if (auto precision = reader.get_string("precision")) {
    check_precision(reader, table.get("precision")->source(), "precision", *precision);
    encoder.precision = *precision;
  }
  reader.reject_unknown_keys();
  return encoder;
}

ModelConfig read_model(const toml::table& table, const std::string& path, const std::filesystem::path& source) {
  TableReader reader(table, path, source);
  ModelConfig model;
  model.name = reader.get_string("name").value_or("");
  if (model.name.empty()) reader.fail_missing("name");
  const auto file = reader.get_string("path");
  const auto base = reader.get_string("base");
  if (file.has_value() == base.has_value()) {
    throw Error(fmt::format("{}:{}: model '{}' needs exactly one of 'path' (one GGUF file) or 'base' (a base "
                            "GGUF plus 'precisions')", source.string(), table.source().begin.line, model.name));
  }
  model.path = resolve(source, file ? *file : *base);
  const toml::node* precisions_node = table.get("precisions");
  model.precisions = reader.get_string_array("precisions");
  if (file && !model.precisions.empty()) {
    reader.fail(precisions_node->source(), "precisions", "only a model given by 'base' can list precisions");
  }
  if (model.precisions.empty()) model.precisions = {"stored"};
  std::set<std::string> seen;
  for (std::size_t i = 0; i < model.precisions.size(); ++i) {
    std::string& precision = model.precisions[i];
    const auto where = precisions_node != nullptr ? precisions_node->source() : table.source();
    check_precision(reader, where, fmt::format("precisions[{}]", i), precision);
    if (!seen.insert(precision).second) {
      reader.fail(where, fmt::format("precisions[{}]", i), fmt::format("precision '{}' is listed twice", precision));
    }
  }
  reader.reject_unknown_keys();
  return model;
}

std::vector<KValue> read_k_values(TableReader& reader) {
  std::vector<KValue> values;
  const bool present = reader.for_each_element("k", [&](const toml::node& element, std::size_t i) {
    KValue value;
    if (element.is_string() && *element.value<std::string>() == "max") {
      value.is_max = true;
    } else if (element.is_integer() && *element.value<std::int64_t>() >= 0 &&
               *element.value<std::int64_t>() <= 1'000'000) {
      value.count = static_cast<int>(*element.value<std::int64_t>());
    } else {
      reader.fail(element.source(), fmt::format("k[{}]", i), "expected an integer >= 0 or the string \"max\"");
    }
    if (std::find(values.begin(), values.end(), value) != values.end()) {
      reader.fail(element.source(), fmt::format("k[{}]", i), fmt::format("k = {} is listed twice", value.to_string()));
    }
    values.push_back(value);
  });
  if (!present) reader.fail_missing("k");
  return values;
}

DocumentOrder parse_order(TableReader& reader, const toml::node& node, const std::string& key) {
  const std::string text = node.value<std::string>().value_or("");
  if (text == "relevance-first") return DocumentOrder::kRelevanceFirst;
  if (text == "relevance-last") return DocumentOrder::kRelevanceLast;
  if (text == "shuffled") return DocumentOrder::kShuffled;
  reader.fail(node.source(), key, "expected \"relevance-first\", \"relevance-last\" or \"shuffled\"");
}

void read_experiment_section(TableReader& reader, ExperimentConfig& config) {
  config.name = reader.get_string("name").value_or(config.source.stem().string());
  const toml::node* retrievers_node = reader.table().get("retrievers");
  const std::vector<std::string> retrievers = reader.get_string_array("retrievers");
  if (retrievers.empty()) reader.fail_missing("retrievers");
  for (std::size_t i = 0; i < retrievers.size(); ++i) {
    try {
      config.retrievers.push_back(parse_retriever_spec(retrievers[i]));
    } catch (const Error& error) {
      reader.fail(retrievers_node->source(), fmt::format("retrievers[{}]", i), error.message());
    }
    if (std::count(config.retrievers.begin(), config.retrievers.end(), config.retrievers.back()) > 1) {
      reader.fail(retrievers_node->source(), fmt::format("retrievers[{}]", i), "retriever listed twice");
    }
  }
  config.k_values = read_k_values(reader);
  const bool has_orders = reader.for_each_element("orders", [&](const toml::node& element, std::size_t i) {
    config.orders.push_back(parse_order(reader, element, fmt::format("orders[{}]", i)));
  });
  if (!has_orders) config.orders = {DocumentOrder::kRelevanceFirst};

  const toml::node* style_node = reader.table().get("prompt_style");
  const std::string style = reader.get_string("prompt_style").value_or("lamp");
  if (style == "lamp") {
    config.prompt_style = PromptStyle::kLamp;
  } else if (style == "yazan2024") {
    config.prompt_style = PromptStyle::kYazan2024;
  } else {
    reader.fail(style_node->source(), "prompt_style", "expected \"lamp\" or \"yazan2024\"");
  }
  config.max_prompt_tokens =
      static_cast<std::size_t>(reader.get_integer("max_prompt_tokens", 0, 10'000'000).value_or(0));
  config.threads = static_cast<int>(reader.get_integer("threads", 0, 4096).value_or(0));
  reader.for_each_element("seeds", [&](const toml::node& element, std::size_t i) {
    if (!element.is_integer() || *element.value<std::int64_t>() < 0) {
      reader.fail(element.source(), fmt::format("seeds[{}]", i), "expected an integer >= 0");
    }
    config.seeds.push_back(static_cast<std::uint64_t>(*element.value<std::int64_t>()));
  });
  reader.reject_unknown_keys();
}

void read_decoding_section(TableReader& reader, ExperimentConfig& config, std::optional<std::uint64_t>& seed) {
  DecodingSettings& decoding = config.decoding;
  decoding.max_new_tokens = static_cast<int>(reader.get_integer("max_new_tokens", 1, 1'000'000).value_or(64));
  decoding.temperature = reader.get_number("temperature", 0.0, 100.0).value_or(0.0);
  decoding.top_k = static_cast<int>(reader.get_integer("top_k", 0, 10'000'000).value_or(0));
  decoding.top_p = reader.get_number("top_p", 0.0, 1.0).value_or(1.0);
  decoding.min_p = reader.get_number("min_p", 0.0, 1.0).value_or(0.0);
  if (const auto value = reader.get_integer("seed", 0, INT64_MAX)) seed = static_cast<std::uint64_t>(*value);
  decoding.stop = reader.get_string_array("stop");
  reader.reject_unknown_keys();
}

// Every dense retriever names a configured encoder or a GGUF file.
void check_dense_retrievers(const ExperimentConfig& config) {
  for (const RetrieverSpec& spec : config.retrievers) {
    if (spec.family != "dense") continue;
    const bool named = std::any_of(config.encoders.begin(), config.encoders.end(),
                                   [&](const EncoderConfig& encoder) { return encoder.name == spec.variant; });
    if (named || spec.variant.ends_with(".gguf")) continue;
    throw Error(fmt::format("{}: retriever '{}' names encoder '{}', but no [[encoders]] entry has that name "
                            "(add one with name and path, or give a .gguf path)",
                            config.source.string(), spec.canonical(), spec.variant));
  }
}

}  // namespace

std::string RetrieverSpec::canonical() const {
  std::string text = family;
  if (!variant.empty()) text += ":" + variant;
  char separator = '?';
  for (const auto& [key, value] : params) {
    text += separator + key + "=" + value;
    separator = '&';
  }
  return text;
}

RetrieverSpec parse_retriever_spec(std::string_view spec) {
  RetrieverSpec result;
  const std::size_t query_at = spec.find('?');
  const std::string_view head = spec.substr(0, query_at);
  const std::size_t colon = head.find(':');
  result.family = std::string(head.substr(0, colon));
  if (colon != std::string_view::npos) result.variant = std::string(head.substr(colon + 1));
  if (std::find(kRetrieverFamilies.begin(), kRetrieverFamilies.end(), result.family) == kRetrieverFamilies.end()) {
    throw Error(fmt::format("retriever spec '{}': unknown retriever '{}' (known: bm25, dense, recency, random)",
                            spec, result.family));
  }
  if (colon != std::string_view::npos && result.variant.empty()) {
    throw Error(fmt::format("retriever spec '{}': empty variant after ':'", spec));
  }
  if (query_at == std::string_view::npos) return result;

  std::string_view query = spec.substr(query_at + 1);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == pair.size()) {
      throw Error(fmt::format("retriever spec '{}': parameter '{}' is not key=value", spec, pair));
    }
    if (!result.params.emplace(std::string(pair.substr(0, eq)), std::string(pair.substr(eq + 1))).second) {
      throw Error(fmt::format("retriever spec '{}': parameter '{}' given twice", spec, pair.substr(0, eq)));
    }
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  return result;
}

std::string_view to_string(DocumentOrder order) {
  switch (order) {
    case DocumentOrder::kRelevanceFirst: return "relevance-first";
    case DocumentOrder::kRelevanceLast: return "relevance-last";
    case DocumentOrder::kShuffled: return "shuffled";
  }
  return "?";
}

std::string_view to_string(PromptStyle style) {
  return style == PromptStyle::kLamp ? "lamp" : "yazan2024";
}

std::string DecodingSettings::canonical() const {
  std::string text = fmt::format("max_new_tokens={};temperature={};top_k={};top_p={};min_p={};stop=[",
                                 max_new_tokens, temperature, top_k, top_p, min_p);
  for (const std::string& s : stop) text += fmt::format("{:?},", s);
  return text + "]";
}

ExperimentConfig parse_config(std::string_view toml_text, const std::filesystem::path& source) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source.string());
  } catch (const toml::parse_error& error) {
    throw Error(fmt::format("{}:{}:{}: invalid TOML: {}", source.string(), error.source().begin.line,
                            error.source().begin.column, error.description()));
  }

  ExperimentConfig config;
  config.source = source;
  TableReader reader(root, "", source);
  const toml::table* experiment = sub_table(reader, "experiment");
  if (experiment == nullptr) reader.fail_missing("experiment");
  TableReader experiment_reader(*experiment, "experiment", source);
  read_experiment_section(experiment_reader, config);

  std::optional<std::uint64_t> decoding_seed;
  if (const toml::table* decoding = sub_table(reader, "decoding")) {
    TableReader decoding_reader(*decoding, "decoding", source);
    read_decoding_section(decoding_reader, config, decoding_seed);
  }
  if (decoding_seed && !config.seeds.empty()) {
    throw Error(fmt::format("{}: set either 'decoding.seed' or 'experiment.seeds', not both", source.string()));
  }
  if (config.seeds.empty()) config.seeds = {decoding_seed.value_or(0)};

  std::set<std::string> names;
  for_each_table_in_array(reader, "datasets", [&](const toml::table& table, const std::string& path) {
    config.datasets.push_back(read_dataset(table, path, source));
    if (!names.insert("dataset:" + config.datasets.back().name).second) {
      reader.fail(table.source(), path, fmt::format("dataset name '{}' is used twice", config.datasets.back().name));
    }
  });
  if (config.datasets.empty()) reader.fail_missing("datasets");
  for_each_table_in_array(reader, "models", [&](const toml::table& table, const std::string& path) {
    config.models.push_back(read_model(table, path, source));
    if (!names.insert("model:" + config.models.back().name).second) {
      reader.fail(table.source(), path, fmt::format("model name '{}' is used twice", config.models.back().name));
    }
  });
  if (config.models.empty()) reader.fail_missing("models");
  for_each_table_in_array(reader, "encoders", [&](const toml::table& table, const std::string& path) {
    config.encoders.push_back(read_encoder(table, path, source));
    if (!names.insert("encoder:" + config.encoders.back().name).second) {
      reader.fail(table.source(), path, fmt::format("encoder name '{}' is used twice", config.encoders.back().name));
    }
  });
  check_dense_retrievers(config);
  reader.reject_unknown_keys();
  return config;
}

ExperimentConfig load_config(const std::filesystem::path& path) {
  std::ifstream probe(path);
  if (!probe) throw Error(fmt::format("cannot open experiment config '{}': file not found or not readable", path.string()));
  const std::string text((std::istreambuf_iterator<char>(probe)), std::istreambuf_iterator<char>());
  return parse_config(text, path);
}

}  // namespace qrag::experiment
