// Prompt rendering: k retrieved profile items, their order, the token budget and the chat template.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lamp/dataset.h"
#include "lamp/prompt_style.h"
#include "lamp/task.h"
#include "lamp/token_counter.h"
#include "tokenizer/chat_template.h"

namespace qrag::lamp {

// Where the retrieved items stand relative to the question, which comes last in every template.
enum class ItemOrder {
  kRelevanceFirst,  // most relevant first, so farthest from the question (the official order)
  kRelevanceLast,   // most relevant last, next to the question
  kShuffled,        // a seeded permutation, fixed per (seed, question id)
};

// Parses "relevance-first", "relevance-last" or "shuffled"; throws qrag::Error otherwise.
ItemOrder parse_item_order(std::string_view name);
std::string_view item_order_name(ItemOrder order);

// The number of items: a count, or "max" (as many whole items as fit the context).
struct ItemCount {
  std::optional<std::size_t> count;  // nullopt means max
  bool is_max() const { return !count.has_value(); }
  std::string to_string() const;
};

// Parses a non-negative integer or "max"; throws qrag::Error otherwise.
ItemCount parse_item_count(std::string_view text);

struct PromptOptions {
  ItemCount k{0};
  ItemOrder order = ItemOrder::kRelevanceFirst;
  std::uint64_t seed = 0;
  // The official LaMP max_length in tokens, split between the input and the items when the
  // style truncates items and k is an integer; 0 keeps items whole.
  std::size_t item_budget_tokens = 0;
  // The model context in tokens; 0 skips the fit check (k = max requires it).
  std::size_t context_tokens = 0;
  // Tokens kept free for the output within context_tokens.
  std::size_t reserved_output_tokens = 0;
  // The model's chat format, required by chat styles.
  std::optional<tokenizer::ChatTemplate> chat_template;
};

// A rendered prompt and a record of everything that was cut or left out.
struct RenderedPrompt {
  std::string text;       // what the model receives (chat-rendered for chat styles)
  std::string user_text;  // the user message before the chat template
  std::vector<std::size_t> items;  // profile indices in prompt order
  std::size_t n_candidates = 0;    // items requested: min(k, ranking size), or the ranking for max
  std::size_t n_dropped = 0;       // candidates left out so that the prompt fits the context
  std::size_t n_truncated = 0;     // items whose long field the token budget cut
  bool input_truncated = false;    // the input was cut to its share of the token budget
  bool over_budget = false;        // even with no items, prompt + reserved output > context
  std::size_t n_prompt_tokens = 0; // TokenCounter::count_prompt(text)
  double input_share_used = 0.0;   // the input share the official budget settled on

  bool lost_content() const { return n_dropped > 0 || n_truncated > 0 || input_truncated; }
};

// Renders the prompt of `question` from the profile indices in `ranking` (best first).
// k integer: the first min(k, ranking.size()) items; with a truncating style and a positive
// item_budget_tokens they get the official LaMP budget (the input keeps up to input_share of it,
// the rest is split evenly across the items, only the long field is cut, and unused tokens carry
// to the next item in prompt order). k = max: whole items in ranking order while the prompt plus
// reserved_output_tokens fits context_tokens, stopping at the first that does not fit.
// In both cases, when context_tokens is set and the prompt does not fit, the least relevant items
// are dropped until it does. This search assumes that adding an item never makes the prompt
// shorter in tokens. Throws qrag::Error on a ranking index outside the profile, a chat style
// without a chat template, or k = max without context_tokens.
RenderedPrompt render_prompt(const PromptStyle& style, const TaskInfo& task, const Question& question,
                             std::span<const std::size_t> ranking, const PromptOptions& options,
                             const TokenCounter& counter);

// The arrangement of `by_relevance` (best first) for `order`; shuffles are seeded with `seed` and
// `question_id` so that they do not depend on question order.
std::vector<std::size_t> arrange_items(std::span<const std::size_t> by_relevance, ItemOrder order,
                                       std::uint64_t seed, std::string_view question_id);

}  // namespace qrag::lamp
