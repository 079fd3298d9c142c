// Experiment configuration: the TOML file read by `qrag run`, validated into typed values.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qrag::experiment {

// One LaMP dataset: a task number and its questions (and optional gold outputs) file.
struct DatasetConfig {
  std::string name;
  int task = 0;                           // LaMP task, 1..7
  std::filesystem::path questions;        // resolved against the config file's folder
  std::optional<std::filesystem::path> outputs;  // absent for splits without golds
  std::string parser = "auto";            // output parser name; "auto" = the task's default
  std::size_t limit = 0;                  // use the first `limit` questions; 0 = all
};

// One model: either a single GGUF file (precision "stored") or a base GGUF plus the
// precisions qrag derives from it with its quantizer ("stored" keeps the base file).
struct ModelConfig {
  std::string name;
  std::filesystem::path path;             // the file itself, or the base file
  std::vector<std::string> precisions;    // lower-case GGML type names or "stored"
};

// One dense encoder that `dense:NAME` retrievers refer to. `path` is a GGUF file or a
// Hugging Face checkpoint folder that qrag converts to GGUF on first use. A `precision`
// other than "stored" quantizes that file, cached like model precisions.
struct EncoderConfig {
  std::string name;
  std::filesystem::path path;             // GGUF file or checkpoint folder
  std::string precision = "stored";       // lower-case GGML type name or "stored"
};

// A retriever spec string, "family[:variant][?key=value&key=value]", e.g. "bm25:okapi",
// "dense:minilm", "recency", "random?seed=1". Parameters are kept sorted by key.
struct RetrieverSpec {
  std::string family;
  std::string variant;
  std::map<std::string, std::string> params;

  // The canonical spec string (parameters sorted), used in cell ids and content keys.
  std::string canonical() const;
  bool operator==(const RetrieverSpec&) const = default;
};

// Parses a spec string; throws qrag::Error naming the spec on a syntax error or an
// unknown family (known: bm25, dense, recency, random). A dense variant must name an
// [[encoders]] entry or a .gguf file; load_config checks that.
RetrieverSpec parse_retriever_spec(std::string_view spec);

// Number of retrieved profile items: a count, or every item of the profile.
struct KValue {
  bool is_max = false;
  int count = 0;  // meaningful when !is_max

  std::string to_string() const { return is_max ? "max" : std::to_string(count); }
  bool operator==(const KValue&) const = default;
};

enum class DocumentOrder { kRelevanceFirst, kRelevanceLast, kShuffled };
std::string_view to_string(DocumentOrder order);

enum class PromptStyle { kLamp, kYazan2024 };
std::string_view to_string(PromptStyle style);

// Generation settings shared by every cell. temperature 0 means greedy decoding, and
// top_k 0, top_p 1 and min_p 0 each disable that filter.
struct DecodingSettings {
  int max_new_tokens = 64;
  double temperature = 0.0;
  int top_k = 0;
  double top_p = 1.0;
  double min_p = 0.0;
  std::vector<std::string> stop;

  // A stable one-line text of every field, part of each row's content key.
  std::string canonical() const;
  bool operator==(const DecodingSettings&) const = default;
};

struct ExperimentConfig {
  std::filesystem::path source;           // the TOML file this was read from
  std::string name;
  std::vector<DatasetConfig> datasets;
  std::vector<ModelConfig> models;
  std::vector<EncoderConfig> encoders;
  std::vector<RetrieverSpec> retrievers;
  std::vector<KValue> k_values;
  std::vector<DocumentOrder> orders;
  PromptStyle prompt_style = PromptStyle::kLamp;
  std::size_t max_prompt_tokens = 0;      // 0 = the model's context length
  DecodingSettings decoding;
  std::vector<std::uint64_t> seeds;       // one grid slice per seed (sampling and shuffling)
  int threads = 0;                        // 0 = one per core; `--threads` overrides
};

// Reads and validates a config file. Relative paths in it are resolved against the
// file's folder. Throws qrag::Error naming the file, line and key for a TOML syntax
// error, an unknown key, a wrong type, an invalid value or a missing required key.
ExperimentConfig load_config(const std::filesystem::path& path);

// Same as load_config, for TOML text; `source` names it in errors and is the base of
// relative paths.
ExperimentConfig parse_config(std::string_view toml_text, const std::filesystem::path& source);

}  // namespace qrag::experiment
