// Prompt rendering: k retrieved profile items, their order, the token budget and the chat template.
#include "lamp/prompt.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "core/check.h"
#include "core/error.h"
#include "lamp/query.h"

namespace qrag::lamp {

ItemOrder parse_item_order(std::string_view name) {
  if (name == "relevance-first") return ItemOrder::kRelevanceFirst;
  if (name == "relevance-last") return ItemOrder::kRelevanceLast;
  if (name == "shuffled") return ItemOrder::kShuffled;
  throw Error(fmt::format("unknown item order '{}': expected relevance-first, relevance-last or shuffled",
                          name));
}

std::string_view item_order_name(ItemOrder order) {
  switch (order) {
    case ItemOrder::kRelevanceFirst: return "relevance-first";
    case ItemOrder::kRelevanceLast: return "relevance-last";
    case ItemOrder::kShuffled: return "shuffled";
  }
  return "?";
}

std::string ItemCount::to_string() const { return count ? std::to_string(*count) : "max"; }

ItemCount parse_item_count(std::string_view text) {
  if (text == "max") return ItemCount{std::nullopt};
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw Error(fmt::format("invalid k '{}': expected a non-negative integer or 'max'", text));
  }
  return ItemCount{value};
}

namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// Python's floor division, which the official budget uses on possibly negative numbers.
long long floor_div(long long a, long long b) {
  long long q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Everything one rendering attempt needs.
struct Renderer {
  const PromptStyle& style;
  const TaskInfo& task;
  const TaskTemplate& tmpl;
  const Question& question;
  const PromptOptions& options;
  const TokenCounter& counter;
  std::optional<std::string> query;  // built on first use: the LaMP rule may reject the input

  const std::string& get_query() {
    if (!query) query = build_query(task, question);
    return *query;
  }

  std::string render_item(const std::string& tmpl_text, const ProfileItem& item,
                          const std::string* long_value) const {
    return fill_template(tmpl_text, "item template", [&](std::string_view name) -> const std::string* {
      if (name == "id") return &item.id;
      if (long_value != nullptr && name == task.long_field) return long_value;
      return item.find(name);
    });
  }

  // The user text for items already rendered (in prompt order) and the possibly cut input.
  std::string assemble(const std::vector<std::string>& items, const std::string& input) {
    auto lookup = [&](std::string_view name) -> const std::string* {
      if (name == "input") return &input;
      if (name == "query") return &get_query();
      return nullptr;
    };
    if (items.empty()) return fill_template(tmpl.zero_shot, "zero_shot template", lookup);
    std::string joined;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) joined += tmpl.separator;
      joined += items[i];
    }
    if (!tmpl.insert_after.empty()) {
      const std::size_t at = input.find(tmpl.insert_after);
      if (at == std::string::npos) return input;  // the official LaMP-1 rendering adds nothing then
      const std::size_t cut = at + tmpl.insert_after.size();
      return input.substr(0, cut) + tmpl.insert_prefix + joined + input.substr(cut);
    }
    return fill_template(tmpl.prompt, "prompt template", [&](std::string_view name) -> const std::string* {
      if (name == "items") return &joined;
      return lookup(name);
    });
  }

  std::string finish(const std::string& user_text) const {
    if (!style.chat) return user_text;
    if (!options.chat_template) {
      throw Error(fmt::format("prompt style '{}' renders through the model's chat template, but no chat "
                              "template was given",
                              style.name));
    }
    std::vector<tokenizer::ChatMessage> messages;
    if (style.system_message) messages.push_back({"system", style.system});
    messages.push_back({"user", user_text});
    return tokenizer::render_chat(*options.chat_template, messages, true);
  }

  // The official per-item budget. Returns false when an item cannot keep even zero tokens of
  // its long field, which makes the caller lower the input share.
  bool budget_items(const std::vector<std::size_t>& order, double share, std::size_t input_tokens,
                    std::vector<std::string>& rendered, std::size_t& n_truncated) const {
    const auto budget = static_cast<long long>(options.item_budget_tokens);
    const auto limit = static_cast<long long>(std::floor(share * static_cast<double>(budget)));
    const long long reserve = std::min(static_cast<long long>(input_tokens), limit);
    const auto n = static_cast<long long>(order.size());
    const long long fixed = static_cast<long long>(tmpl.budget_fixed_tokens) +
                            static_cast<long long>(counter.count(tmpl.budget_text)) +
                            static_cast<long long>(tmpl.separator_tokens) * (n - 1);
    const long long per_item = floor_div(budget - reserve - fixed, n);
    long long saved = 0;
    rendered.clear();
    n_truncated = 0;
    const std::string space = " ";
    for (std::size_t index : order) {
      const ProfileItem& item = question.profile[index];
      long long needed = 0;
      if (tmpl.overhead_tokens) {
        needed = static_cast<long long>(*tmpl.overhead_tokens);
      } else {
        const std::string& overhead_tmpl = tmpl.overhead.empty() ? tmpl.item : tmpl.overhead;
        needed = static_cast<long long>(counter.count(render_item(overhead_tmpl, item, &space)));
      }
      const long long allowed = per_item + saved - needed;
      if (allowed < 0) return false;
      const std::string& long_text = item.at(task.long_field);
      const auto full = static_cast<long long>(counter.count(long_text));
      const long long used = std::min(full, allowed);
      std::string kept = long_text;
      if (full > allowed) {
        kept = counter.truncate(long_text, static_cast<std::size_t>(allowed));
        ++n_truncated;
      }
      saved += per_item - used - needed;
      rendered.push_back(render_item(tmpl.item, item, &kept));
    }
    return true;
  }

  // Renders the prompt with the first `n` candidates (best first) of `candidates`.
  RenderedPrompt attempt(std::span<const std::size_t> candidates, std::size_t n) {
    RenderedPrompt out;
    const std::vector<std::size_t> order =
        arrange_items(candidates.first(n), options.order, options.seed, question.id);
    std::vector<std::string> rendered;
    std::string input = question.input;

    const bool budgeted = style.truncate_items && options.k.count && options.item_budget_tokens > 0 && n > 0;
    out.input_share_used = style.input_share;
    if (budgeted) {
      const std::size_t input_tokens = counter.count(input);
      double share = style.input_share;
      bool ok = budget_items(order, share, input_tokens, rendered, out.n_truncated);
      while (!ok) {
        share -= 0.1;  // the official code lowers the input's share in steps of 0.1
        if (share < 0) break;
        ok = budget_items(order, share, input_tokens, rendered, out.n_truncated);
      }
      out.input_share_used = std::max(share, 0.0);
      if (!ok) {
        rendered.clear();  // no share works: the official code returns the input alone
        out.n_truncated = 0;
      } else {
        const auto keep = static_cast<std::size_t>(
            std::floor(share * static_cast<double>(options.item_budget_tokens)));
        if (input_tokens > keep) {
          input = counter.truncate(input, keep);
          out.input_truncated = true;
        }
        out.items = order;
      }
    } else {
      for (std::size_t index : order) rendered.push_back(render_item(tmpl.item, question.profile[index], nullptr));
      out.items = order;
    }

    out.user_text = assemble(rendered, input);
    if (!rendered.empty() && !tmpl.insert_after.empty() && input.find(tmpl.insert_after) == std::string::npos) {
      out.items.clear();  // the insertion point is missing, so the items are not in the prompt
    }
    out.text = finish(out.user_text);
    out.n_prompt_tokens = counter.count_prompt(out.text);
    return out;
  }

  bool fits(const RenderedPrompt& prompt) const {
    return options.context_tokens == 0 ||
           prompt.n_prompt_tokens + options.reserved_output_tokens <= options.context_tokens;
  }
};

}  // namespace

std::vector<std::size_t> arrange_items(std::span<const std::size_t> by_relevance, ItemOrder order,
                                       std::uint64_t seed, std::string_view question_id) {
  std::vector<std::size_t> out(by_relevance.begin(), by_relevance.end());
  if (order == ItemOrder::kRelevanceLast) {
    std::reverse(out.begin(), out.end());
  } else if (order == ItemOrder::kShuffled) {
    // Fisher-Yates with splitmix64, spelled out so that shuffles match across standard libraries.
    // The modulo bias is below 2^-40 for any realistic profile size.
    std::uint64_t state = seed ^ fnv1a(question_id);
    for (std::size_t i = out.size(); i > 1; --i) {
      const std::size_t j = static_cast<std::size_t>(splitmix64(state) % i);
      std::swap(out[i - 1], out[j]);
    }
  }
  return out;
}

RenderedPrompt render_prompt(const PromptStyle& style, const TaskInfo& task, const Question& question,
                             std::span<const std::size_t> ranking, const PromptOptions& options,
                             const TokenCounter& counter) {
  for (std::size_t index : ranking) {
    if (index >= question.profile.size()) {
      throw Error(fmt::format("question {} (id {}): ranking index {} is outside its profile of {} items",
                              question.index, question.id, index, question.profile.size()));
    }
  }
  if (options.k.is_max() && options.context_tokens == 0) {
    throw Error("k = max needs the model's context size (context_tokens) to know how many items fit");
  }
  Renderer renderer{style, task, style.task(task.id), question, options, counter, std::nullopt};
  const std::size_t n_candidates =
      options.k.count ? std::min(*options.k.count, ranking.size()) : ranking.size();

  RenderedPrompt best = renderer.attempt(ranking, n_candidates);
  std::size_t n = n_candidates;
  if (!renderer.fits(best)) {
    // Binary search for the largest item count that fits; `low` always fits or is 0.
    std::size_t low = 0;
    std::size_t high = n_candidates;  // known not to fit
    RenderedPrompt low_prompt = renderer.attempt(ranking, 0);
    while (high - low > 1) {
      const std::size_t mid = low + (high - low) / 2;
      RenderedPrompt candidate = renderer.attempt(ranking, mid);
      if (renderer.fits(candidate)) {
        low = mid;
        low_prompt = std::move(candidate);
      } else {
        high = mid;
      }
    }
    n = low;
    best = std::move(low_prompt);
    best.over_budget = !renderer.fits(best);
  }
  best.n_candidates = n_candidates;
  best.n_dropped = n_candidates - best.items.size();
  QRAG_CHECK(best.items.size() <= n, "a prompt holds more items than were tried");
  return best;
}

}  // namespace qrag::lamp
