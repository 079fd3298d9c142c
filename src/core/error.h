// qrag::Error: the exception type for user-facing failures, with a context chain.
#pragma once

#include <exception>
#include <string>
#include <utility>

namespace qrag {

// An error the user can act on: a bad file, field, value or option. The message
// reads outermost context first, e.g.
//   "reading model.gguf: tensor 'blk.3.attn_q.weight': data offset 123 beyond end of file (size 100)".
// Internal invariant violations use QRAG_CHECK (core/check.h) instead.
class Error : public std::exception {
 public:
  explicit Error(std::string message) : message_(std::move(message)) {}

  const char* what() const noexcept override { return message_.c_str(); }
  const std::string& message() const noexcept { return message_; }

  // Prepends one context level ("reading model.gguf") to the message.
  void add_context(const std::string& context) { message_ = context + ": " + message_; }

 private:
  std::string message_;
};

// Runs fn() and, if it throws qrag::Error, rethrows it with `context` prepended.
template <typename Fn>
decltype(auto) with_context(const std::string& context, Fn&& fn) {
  try {
    return std::forward<Fn>(fn)();
  } catch (Error& error) {
    error.add_context(context);
    throw;
  }
}

}  // namespace qrag
