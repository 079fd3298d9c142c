// Token counting for prompt budgets: the tokenizer adapter and the word counter.
#include "lamp/token_counter.h"

#include <span>

namespace qrag::lamp {

std::size_t TokenizerCounter::count(std::string_view text) const {
  return tokenizer_->count_tokens(text);
}

std::string TokenizerCounter::truncate(std::string_view text, std::size_t max_tokens) const {
  const std::vector<std::int32_t> ids = tokenizer_->encode(text, false, false);
  if (ids.size() <= max_tokens) return std::string(text);
  return tokenizer_->decode(std::span<const std::int32_t>(ids.data(), max_tokens), false);
}

std::size_t TokenizerCounter::count_prompt(std::string_view text) const {
  return tokenizer_->encode(text, true, true).size();
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'; }

}  // namespace

std::size_t WordCounter::count(std::string_view text) const {
  std::size_t words = 0;
  bool in_word = false;
  for (char c : text) {
    if (is_space(c)) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++words;
    }
  }
  return words;
}

std::string WordCounter::truncate(std::string_view text, std::size_t max_tokens) const {
  std::size_t words = 0;
  bool in_word = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (is_space(text[i])) {
      if (in_word && words == max_tokens) return std::string(text.substr(0, i));
      in_word = false;
    } else if (!in_word) {
      if (words == max_tokens) return std::string(text.substr(0, i));
      in_word = true;
      ++words;
    }
  }
  return std::string(text);
}

}  // namespace qrag::lamp
