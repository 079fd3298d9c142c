// Prompt styles as data: per-task templates read from a TOML file (prompts/*.toml).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lamp/task.h"

namespace qrag::lamp {

// The templates of one task. Placeholders are {name}; "{{" and "}}" write literal braces.
// `item` may name any profile field ({title}, {score}...) and {id}; `prompt` and `zero_shot` may
// use {input} (the question's input), {query} (the query cut out by the task's LaMP rule) and,
// in `prompt`, {items}.
struct TaskTemplate {
  std::string item;       // one profile item
  std::string separator;  // between items
  std::string prompt;     // k > 0
  std::string zero_shot;  // k = 0, or when every item was dropped
  // When set, the joined items are inserted into the input right after the first occurrence of
  // this word, preceded by `insert_prefix` (the official LaMP-1 rendering); `prompt` is unused.
  std::string insert_after;
  std::string insert_prefix;
  // The official token budget (used when the style truncates items):
  // per_item = (budget - budget_fixed_tokens - count(budget_text) - separator_tokens * (k - 1)) / k,
  // and each item costs its long field plus an overhead: either `overhead_tokens` when set, or
  // the count of `overhead` rendered with the long field replaced by " " (default: `item`).
  std::string overhead;
  std::optional<std::size_t> overhead_tokens;
  std::size_t budget_fixed_tokens = 1;
  std::string budget_text;
  std::size_t separator_tokens = 2;
};

struct PromptStyle {
  std::string name;
  std::string source;  // the file it was read from, for messages
  // Render the user text through the model's chat template (needs a chat format).
  bool chat = false;
  // Include a system turn (with `system` as its text, possibly empty) in the chat.
  bool system_message = false;
  std::string system;
  // Apply the official LaMP token budget for an integer k (truncating long fields).
  bool truncate_items = false;
  // Share of the budget the input may keep (official: 0.6).
  double input_share = 0.6;
  std::map<TaskId, TaskTemplate> tasks;

  // Returns the task's templates; throws qrag::Error naming the style and task when absent.
  const TaskTemplate& task(TaskId id) const;
};

// Parses a style from TOML text. Top-level keys: name, chat, system_message, system,
// truncate_items, input_share. A [default] table gives template keys every task inherits, and
// one table per task (named as in parse_task, e.g. [LaMP_3]) overrides them. Throws qrag::Error
// naming `source_name`, the table and key, and unknown placeholders.
PromptStyle parse_prompt_style(std::string_view toml_text, std::string_view source_name);

// Reads a style file.
PromptStyle load_prompt_style(const std::filesystem::path& path);

// Resolves a style given as a file path, or as a name looked up as NAME.toml in `search_dirs`
// (in order). Throws qrag::Error listing the folders searched.
std::filesystem::path find_prompt_style(std::string_view name_or_path,
                                        std::span<const std::filesystem::path> search_dirs);

// Returns the value of a placeholder, or nullptr when the name is unknown.
using PlaceholderLookup = std::function<const std::string*(std::string_view name)>;

// Fills the placeholders of `tmpl` through `lookup`. Throws qrag::Error naming `what` and the
// placeholder when `lookup` does not know it.
std::string fill_template(std::string_view tmpl, std::string_view what, const PlaceholderLookup& lookup);

// The placeholder names used in `tmpl`. Throws qrag::Error on unbalanced braces.
std::vector<std::string> template_placeholders(std::string_view tmpl, std::string_view what);

}  // namespace qrag::lamp
