// Token counting for prompt budgets: an abstract counter, a tokenizer adapter and a word counter.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "tokenizer/tokenizer.h"

namespace qrag::lamp {

// What the prompt builder needs from a tokenizer. Implementations must be thread-safe for
// concurrent const calls.
class TokenCounter {
 public:
  virtual ~TokenCounter() = default;
  // Number of tokens of plain text, without special tokens.
  virtual std::size_t count(std::string_view text) const = 0;
  // The text of the first `max_tokens` tokens of `text` (the whole text when it is shorter).
  virtual std::string truncate(std::string_view text, std::size_t max_tokens) const = 0;
  // Number of tokens of a final prompt as the model receives it: special-token text such as
  // "<|im_start|>" parsed and BOS added when the vocabulary asks for it. Defaults to count().
  virtual std::size_t count_prompt(std::string_view text) const { return count(text); }
};

// TokenCounter over a qrag tokenizer. The tokenizer must outlive the counter.
class TokenizerCounter final : public TokenCounter {
 public:
  explicit TokenizerCounter(const tokenizer::Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}
  std::size_t count(std::string_view text) const override;
  std::string truncate(std::string_view text, std::size_t max_tokens) const override;
  std::size_t count_prompt(std::string_view text) const override;

 private:
  const tokenizer::Tokenizer* tokenizer_;
};

// Counts runs of non-whitespace characters as tokens; truncate() keeps the text up to the end of
// the last kept word. For tests and for budgets when no model tokenizer is at hand.
class WordCounter final : public TokenCounter {
 public:
  std::size_t count(std::string_view text) const override;
  std::string truncate(std::string_view text, std::size_t max_tokens) const override;
};

}  // namespace qrag::lamp
