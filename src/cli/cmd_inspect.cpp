// `qrag inspect FILE.gguf [--json] [--tensors]`: prints the facts of a GGUF file
// (architecture, sizes, vocabulary, parameters, bits per weight, metadata and
// optionally the tensor table) to stdout; logs go to stderr.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/error.h"
#include "gguf/gguf_file.h"
#include "gguf/model_summary.h"

namespace qrag::cli {
namespace {

using gguf::Array;
using gguf::GgufFile;
using gguf::ModelSummary;
using gguf::Value;
using Json = nlohmann::ordered_json;

struct InspectOptions {
  std::string path;
  bool json = false;
  bool tensors = false;
  std::size_t array_items = 8;    // array items shown before abbreviating (0 = all)
  std::size_t string_bytes = 80;  // string bytes shown in plain output before abbreviating
};

// ---- plain text ----

// Quoted, with control characters escaped so each value stays on one line;
// longer than max_bytes (0 = no limit) is cut at a UTF-8 boundary.
std::string quote(std::string_view s, std::size_t max_bytes) {
  std::size_t cut = s.size();
  if (max_bytes > 0 && s.size() > max_bytes) {
    cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  }
  std::string out = "\"";
  for (std::size_t i = 0; i < cut; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (cut < s.size()) out += fmt::format("... ({} bytes)", s.size());
  return out;
}

std::string type_label(const Value& value) {
  if (const auto* array = std::get_if<Array>(&value.storage)) {
    return fmt::format("array<{}>[{}]", gguf::value_type_name(array->element_type), array->items.size());
  }
  return std::string(gguf::value_type_name(value.type()));
}

std::string format_value(const Value& value, const InspectOptions& options) {
  return std::visit(
      [&](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return quote(v, options.string_bytes);
        } else if constexpr (std::is_same_v<T, Array>) {
          const std::size_t shown = options.array_items == 0 ? v.items.size()
                                                             : std::min(v.items.size(), options.array_items);
          std::string out = "[";
          for (std::size_t i = 0; i < shown; ++i) {
            if (i > 0) out += ", ";
            out += format_value(v.items[i], options);
          }
          if (shown < v.items.size()) out += fmt::format("{}... {} more", shown > 0 ? ", " : "", v.items.size() - shown);
          return out + "]";
        } else if constexpr (std::is_integral_v<T> && sizeof(T) == 1) {
          return std::to_string(static_cast<int>(v));  // not as a character
        } else {
          return fmt::format("{}", v);
        }
      },
      value.storage);
}

std::string human_bytes(std::uint64_t n) {
  static constexpr std::string_view kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double x = static_cast<double>(n);
  if (x < 1024) return fmt::format("{} bytes", n);
  std::size_t unit = 0;
  x /= 1024;
  while (x >= 1024 && unit + 1 < std::size(kUnits)) {
    x /= 1024;
    ++unit;
  }
  return fmt::format("{} bytes ({:.2f} {})", n, x, kUnits[unit]);
}

std::string human_count(std::uint64_t n) {
  if (n < 1000) return std::to_string(n);
  static constexpr std::string_view kUnits[] = {"K", "M", "B", "T"};
  double x = static_cast<double>(n) / 1000;
  std::size_t unit = 0;
  while (x >= 1000 && unit + 1 < std::size(kUnits)) {
    x /= 1000;
    ++unit;
  }
  return fmt::format("{} ({:.1f}{})", n, x, kUnits[unit]);
}

std::string or_dash(const std::optional<std::uint64_t>& v) { return v ? std::to_string(*v) : "-"; }
std::string or_dash(const std::string& v) { return v.empty() ? "-" : v; }

std::string file_type_text(const std::optional<std::uint64_t>& id) {
  if (!id) return "-";
  const auto name = gguf::file_type_name(*id);
  return fmt::format("{} ({})", name ? *name : "unknown", *id);
}

std::string shape_text(const gguf::TensorInfo& info) {
  std::string out = "[";
  for (int j = 0; j < info.n_dims; ++j) out += fmt::format("{}{}", j > 0 ? ", " : "", info.ne[j]);
  return out + "]";
}

void append_facts(std::string& out, const GgufFile& file, const ModelSummary& s) {
  auto line = [&](std::string_view label, const std::string& value) {
    out += fmt::format("{:<17}{}\n", label, value);
  };
  line("file", file.path().string());
  line("size", human_bytes(file.file_size()));
  line("format", fmt::format("GGUF v{}, alignment {}, data section at offset {}", file.version(),
                             file.alignment(), file.data_offset()));
  line("architecture", or_dash(s.architecture));
  line("name", or_dash(s.name));
  line("context length", or_dash(s.context_length));
  line("n_layer", or_dash(s.n_layer));
  line("n_embd", or_dash(s.n_embd));
  line("n_head", or_dash(s.n_head));
  line("n_head_kv", or_dash(s.n_head_kv));
  line("n_ff", or_dash(s.n_ff));
  line("vocab size", or_dash(s.vocab_size));
  line("tokenizer", s.tokenizer_pre.empty() ? or_dash(s.tokenizer_model)
                                            : fmt::format("{} (pre-tokenizer {})", or_dash(s.tokenizer_model),
                                                          s.tokenizer_pre));
  line("file type", file_type_text(s.file_type));
  line("parameters", human_count(s.n_params));
  line("tensor data", human_bytes(s.tensor_bytes));
  line("bits per weight", s.n_params > 0 ? fmt::format("{:.2f}", s.bits_per_weight) : "-");
  std::string types;
  for (const gguf::TypeCount& count : s.tensor_types) {
    types += fmt::format("{}{}: {}", types.empty() ? "" : ", ", gguf::type_name(count.type), count.n_tensors);
  }
  line("tensor types", or_dash(types));
  line("tensors", std::to_string(file.tensors().size()));
}

std::string render_text(const GgufFile& file, const ModelSummary& s, const InspectOptions& options) {
  std::string out;
  append_facts(out, file, s);
  // Column widths follow the content, capped so one odd key cannot push every line right.
  std::size_t key_width = 0;
  std::size_t type_width = 0;
  for (const gguf::KeyValue& kv : file.metadata()) {
    key_width = std::max(key_width, kv.key.size());
    type_width = std::max(type_width, type_label(kv.value).size());
  }
  key_width = std::min<std::size_t>(key_width, 48);
  out += fmt::format("\nmetadata: {} keys\n", file.metadata().size());
  for (const gguf::KeyValue& kv : file.metadata()) {
    out += fmt::format("  {:<{}}  {:<{}}  {}\n", kv.key, key_width, type_label(kv.value), type_width,
                       format_value(kv.value, options));
  }
  if (options.tensors) {
    std::size_t name_width = 4;
    std::size_t shape_width = 5;
    for (const gguf::TensorInfo& info : file.tensors()) {
      name_width = std::max(name_width, info.name.size());
      shape_width = std::max(shape_width, shape_text(info).size());
    }
    out += fmt::format("\ntensors: {} (offsets relative to the data section)\n", file.tensors().size());
    constexpr std::string_view kRow = "  {:>5}  {:<{}}  {:<7}  {:<{}}  {:>12}  {:>12}\n";
    out += fmt::format(kRow, "#", "name", name_width, "type", "shape", shape_width, "bytes", "offset");
    for (std::size_t i = 0; i < file.tensors().size(); ++i) {
      const gguf::TensorInfo& info = file.tensors()[i];
      out += fmt::format(kRow, i, info.name, name_width, gguf::type_name(info.type), shape_text(info), shape_width,
                         info.n_bytes, info.offset);
    }
  }
  return out;
}

// ---- JSON ----

Json json_value(const Value& value, const InspectOptions& options) {
  return std::visit(
      [&](const auto& v) -> Json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, Array>) {
          const std::size_t shown = options.array_items == 0 ? v.items.size()
                                                             : std::min(v.items.size(), options.array_items);
          Json values = Json::array();
          for (std::size_t i = 0; i < shown; ++i) values.push_back(json_value(v.items[i], options));
          return Json{{"type", "array"},
                      {"element_type", gguf::value_type_name(v.element_type)},
                      {"length", v.items.size()},
                      {"values", std::move(values)},
                      {"truncated", shown < v.items.size()}};
        } else {
          return Json(v);
        }
      },
      value.storage);
}

Json json_optional(const std::optional<std::uint64_t>& v) { return v ? Json(*v) : Json(nullptr); }
Json json_optional(const std::string& v) { return v.empty() ? Json(nullptr) : Json(v); }

Json render_json(const GgufFile& file, const ModelSummary& s, const InspectOptions& options) {
  Json j;
  j["file"] = file.path().string();
  j["size_bytes"] = file.file_size();
  j["gguf_version"] = file.version();
  j["alignment"] = file.alignment();
  j["data_offset"] = file.data_offset();
  j["architecture"] = json_optional(s.architecture);
  j["name"] = json_optional(s.name);
  j["context_length"] = json_optional(s.context_length);
  j["n_layer"] = json_optional(s.n_layer);
  j["n_embd"] = json_optional(s.n_embd);
  j["n_head"] = json_optional(s.n_head);
  j["n_head_kv"] = json_optional(s.n_head_kv);
  j["n_ff"] = json_optional(s.n_ff);
  j["vocab_size"] = json_optional(s.vocab_size);
  j["tokenizer_model"] = json_optional(s.tokenizer_model);
  j["tokenizer_pre"] = json_optional(s.tokenizer_pre);
  if (s.file_type) {
    const auto name = gguf::file_type_name(*s.file_type);
    j["file_type"] = Json{{"id", *s.file_type}, {"name", name ? Json(*name) : Json(nullptr)}};
  } else {
    j["file_type"] = nullptr;
  }
  j["n_params"] = s.n_params;
  j["tensor_bytes"] = s.tensor_bytes;
  j["bits_per_weight"] = s.n_params > 0 ? Json(s.bits_per_weight) : Json(nullptr);
  j["n_tensors"] = file.tensors().size();
  Json types = Json::array();
  for (const gguf::TypeCount& count : s.tensor_types) {
    types.push_back(Json{{"type", gguf::type_name(count.type)},
                         {"tensors", count.n_tensors},
                         {"elements", count.n_elements},
                         {"bytes", count.n_bytes}});
  }
  j["tensor_types"] = std::move(types);
  j["warnings"] = s.warnings;
  Json metadata = Json::object();
  for (const gguf::KeyValue& kv : file.metadata()) {
    Json entry = json_value(kv.value, options);
    if (!entry.is_object()) entry = Json{{"type", gguf::value_type_name(kv.value.type())}, {"value", std::move(entry)}};
    metadata[kv.key] = std::move(entry);
  }
  j["metadata"] = std::move(metadata);
  if (options.tensors) {
    Json tensors = Json::array();
    for (const gguf::TensorInfo& info : file.tensors()) {
      tensors.push_back(Json{{"name", info.name},
                             {"type", gguf::type_name(info.type)},
                             {"shape", std::vector<std::int64_t>(info.ne.begin(), info.ne.begin() + info.n_dims)},
                             {"bytes", info.n_bytes},
                             {"offset", info.offset}});
    }
    j["tensors"] = std::move(tensors);
  }
  return j;
}

void run_inspect(const InspectOptions& options) {
  const GgufFile file = GgufFile::open(options.path);
  const ModelSummary summary = gguf::summarize(file);
  for (const std::string& warning : summary.warnings) spdlog::warn("{}", warning);
  std::string out;
  if (options.json) {
    // Strings in GGUF files are not guaranteed to be UTF-8: replace bad bytes
    // (U+FFFD) so the output is always valid JSON.
    out = render_json(file, summary, options).dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
  } else {
    out = render_text(file, summary, options);
  }
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    throw Error("inspect: cannot write to stdout");
  }
}

}  // namespace

void register_inspect(CLI::App& app, const GlobalOptions& /*options*/) {
  auto* cmd = app.add_subcommand("inspect", "Print the metadata and tensor table of a GGUF file");
  auto options = std::make_shared<InspectOptions>();
  cmd->add_option("file", options->path, "GGUF file")->required();
  cmd->add_flag("--json", options->json, "Print one JSON object instead of text");
  cmd->add_flag("--tensors", options->tensors, "Also print the tensor table (name, type, shape, bytes, offset)");
  cmd->add_option("--array-items", options->array_items,
                  "Array items shown before abbreviating (0 shows all)")
      ->capture_default_str();
  cmd->callback([options] { run_inspect(*options); });
}

}  // namespace qrag::cli
