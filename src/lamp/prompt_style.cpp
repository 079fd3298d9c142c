// Prompt styles as data: parsing of prompts/*.toml with toml++ and template filling.
#include "lamp/prompt_style.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/error.h"

namespace qrag::lamp {

const TaskTemplate& PromptStyle::task(TaskId id) const {
  const auto it = tasks.find(id);
  if (it == tasks.end()) {
    throw Error(fmt::format("prompt style '{}' ({}) has no templates for task {}; add a [{}] table",
                            name, source, task_info(id).name, task_info(id).name));
  }
  return it->second;
}

namespace {

// Calls on_text(literal) and on_placeholder(name) in template order.
template <typename OnText, typename OnPlaceholder>
void walk_template(std::string_view tmpl, std::string_view what, OnText on_text,
                   OnPlaceholder on_placeholder) {
  std::size_t i = 0;
  while (i < tmpl.size()) {
    const char c = tmpl[i];
    if (c == '{' && i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
      on_text(std::string_view("{"));
      i += 2;
    } else if (c == '}' && i + 1 < tmpl.size() && tmpl[i + 1] == '}') {
      on_text(std::string_view("}"));
      i += 2;
    } else if (c == '{') {
      const std::size_t close = tmpl.find('}', i);
      if (close == std::string_view::npos) {
        throw Error(fmt::format("{}: unclosed '{{' at character {}; write '{{{{' for a literal brace", what, i));
      }
      on_placeholder(tmpl.substr(i + 1, close - i - 1));
      i = close + 1;
    } else if (c == '}') {
      throw Error(fmt::format("{}: unmatched '}}' at character {}; write '}}}}' for a literal brace", what, i));
    } else {
      const std::size_t next = tmpl.find_first_of("{}", i);
      const std::size_t end = next == std::string_view::npos ? tmpl.size() : next;
      on_text(tmpl.substr(i, end - i));
      i = end;
    }
  }
}

const std::vector<std::string_view> kTemplateKeys = {
    "item", "separator", "prompt", "zero_shot", "insert_after", "insert_prefix", "overhead",
    "overhead_tokens", "budget_fixed_tokens", "budget_text", "separator_tokens"};

std::size_t read_count(const toml::node& node, const std::string& where) {
  const std::optional<std::int64_t> value = node.value<std::int64_t>();
  if (!value || *value < 0) throw Error(where + ": expected a non-negative integer");
  return static_cast<std::size_t>(*value);
}

std::string read_string(const toml::node& node, const std::string& where) {
  const std::optional<std::string> value = node.value<std::string>();
  if (!value) throw Error(where + ": expected a string");
  return *value;
}

// Applies the template keys of `table` onto `out`.
void apply_template_table(const toml::table& table, const std::string& where, TaskTemplate& out) {
  for (auto&& [key_node, node] : table) {
    const std::string key(key_node.str());
    const std::string at = where + "." + key;
    if (std::find(kTemplateKeys.begin(), kTemplateKeys.end(), key) == kTemplateKeys.end()) {
      throw Error(fmt::format("{}: unknown key; expected one of {}", at, fmt::join(kTemplateKeys, ", ")));
    }
    if (key == "item") out.item = read_string(node, at);
    if (key == "separator") out.separator = read_string(node, at);
    if (key == "prompt") out.prompt = read_string(node, at);
    if (key == "zero_shot") out.zero_shot = read_string(node, at);
    if (key == "insert_after") out.insert_after = read_string(node, at);
    if (key == "insert_prefix") out.insert_prefix = read_string(node, at);
    if (key == "overhead") out.overhead = read_string(node, at);
    if (key == "overhead_tokens") out.overhead_tokens = read_count(node, at);
    if (key == "budget_fixed_tokens") out.budget_fixed_tokens = read_count(node, at);
    if (key == "budget_text") out.budget_text = read_string(node, at);
    if (key == "separator_tokens") out.separator_tokens = read_count(node, at);
  }
}

void check_placeholders(std::string_view tmpl, const std::string& where,
                        const std::vector<std::string_view>& allowed) {
  for (const std::string& name : template_placeholders(tmpl, where)) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      throw Error(fmt::format("{}: unknown placeholder {{{}}}; this template may use {}", where, name,
                              fmt::join(allowed, ", ")));
    }
  }
}

// Checks that every placeholder names something the task provides.
void validate_template(const TaskInfo& task, const TaskTemplate& t, const std::string& where) {
  std::vector<std::string_view> item_names(task.profile_fields.begin(), task.profile_fields.end());
  item_names.push_back("id");
  if (t.item.empty()) throw Error(where + ".item: missing; every task needs an item template");
  check_placeholders(t.item, where + ".item", item_names);
  if (!t.overhead.empty()) check_placeholders(t.overhead, where + ".overhead", item_names);
  check_placeholders(t.zero_shot, where + ".zero_shot", {"input", "query"});
  if (t.insert_after.empty()) {
    check_placeholders(t.prompt, where + ".prompt", {"input", "query", "items"});
    const auto names = template_placeholders(t.prompt, where + ".prompt");
    if (std::find(names.begin(), names.end(), "items") == names.end()) {
      throw Error(where + ".prompt: must contain {items} (or set insert_after)");
    }
  }
  if (t.zero_shot.empty()) throw Error(where + ".zero_shot: missing; it renders k = 0");
}

}  // namespace

std::vector<std::string> template_placeholders(std::string_view tmpl, std::string_view what) {
  std::vector<std::string> names;
  walk_template(
      tmpl, what, [](std::string_view) {},
      [&](std::string_view name) { names.emplace_back(name); });
  return names;
}

std::string fill_template(std::string_view tmpl, std::string_view what, const PlaceholderLookup& lookup) {
  std::string out;
  out.reserve(tmpl.size());
  walk_template(
      tmpl, what, [&](std::string_view text) { out += text; },
      [&](std::string_view name) {
        const std::string* value = lookup(name);
        if (value == nullptr) throw Error(fmt::format("{}: unknown placeholder {{{}}}", what, name));
        out += *value;
      });
  return out;
}

PromptStyle parse_prompt_style(std::string_view toml_text, std::string_view source_name) {
  const std::string source(source_name);
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& error) {
    throw Error(fmt::format("{}:{}:{}: invalid TOML: {}", source, error.source().begin.line,
                            error.source().begin.column, error.description()));
  }
  PromptStyle style;
  style.source = source;
  TaskTemplate defaults;
  if (const toml::table* table = root["default"].as_table()) {
    apply_template_table(*table, source + ": [default]", defaults);
  }
  for (auto&& [key_node, node] : root) {
    const std::string key(key_node.str());
    const std::string at = source + ": " + key;
    if (key == "default") continue;
    if (key == "name") {
      style.name = read_string(node, at);
    } else if (key == "chat") {
      style.chat = node.value<bool>().value_or(false);
      if (!node.is_boolean()) throw Error(at + ": expected true or false");
    } else if (key == "system_message") {
      if (!node.is_boolean()) throw Error(at + ": expected true or false");
      style.system_message = *node.value<bool>();
    } else if (key == "system") {
      style.system = read_string(node, at);
    } else if (key == "truncate_items") {
      if (!node.is_boolean()) throw Error(at + ": expected true or false");
      style.truncate_items = *node.value<bool>();
    } else if (key == "input_share") {
      const std::optional<double> share = node.value<double>();
      if (!share || !(*share >= 0.0 && *share <= 1.0)) throw Error(at + ": expected a number in [0, 1]");
      style.input_share = *share;
    } else if (const toml::table* table = node.as_table()) {
      const TaskId id = with_context(at, [&] { return parse_task(key); });
      TaskTemplate tmpl = defaults;
      apply_template_table(*table, source + ": [" + key + "]", tmpl);
      validate_template(task_info(id), tmpl, source + ": [" + key + "]");
      style.tasks[id] = std::move(tmpl);
    } else {
      throw Error(at + ": unknown key; expected name, chat, system_message, system, truncate_items, "
                       "input_share, [default] or a task table such as [LaMP_3]");
    }
  }
  if (style.name.empty()) throw Error(source + ": missing key 'name'");
  return style;
}

PromptStyle load_prompt_style(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open prompt style file " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return parse_prompt_style(text.str(), path.string());
}

std::filesystem::path find_prompt_style(std::string_view name_or_path,
                                        std::span<const std::filesystem::path> search_dirs) {
  const std::filesystem::path direct(name_or_path);
  if (std::filesystem::is_regular_file(direct)) return direct;
  std::vector<std::string> tried;
  for (const auto& dir : search_dirs) {
    const auto candidate = dir / (std::string(name_or_path) + ".toml");
    if (std::filesystem::is_regular_file(candidate)) return candidate;
    tried.push_back(candidate.string());
  }
  throw Error(fmt::format("prompt style '{}' not found: it is not a file, and none of {} exists",
                          name_or_path, fmt::join(tried, ", ")));
}

}  // namespace qrag::lamp
