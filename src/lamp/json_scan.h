// A byte scanner that finds the elements of one JSON array without parsing them.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace qrag::lamp {

// Walks a JSON text that is either an array or an object with a `member` holding an array, and
// yields the raw text of each array element in turn. It tracks only strings, escapes and nesting
// depth, so each element still needs a real parser; syntax errors outside the elements throw
// qrag::Error with the byte offset. `text` must outlive the scanner.
class ArrayScanner {
 public:
  ArrayScanner(std::string_view text, std::string_view member, std::string file_name);

  // Returns the next element's text, or nullopt after the closing bracket.
  std::optional<std::string_view> next();

  // Byte offset of the scan position.
  std::size_t offset() const { return pos_; }

 private:
  void open_array();
  void skip_whitespace();
  std::size_t skip_value_or_fail(std::size_t start) const;  // returns the offset past the value
  [[noreturn]] void fail(std::size_t at, std::string_view what) const;

  std::string_view text_;
  std::string member_;
  std::string file_name_;
  std::size_t pos_ = 0;
  bool opened_ = false;
  bool finished_ = false;
  std::size_t count_ = 0;
};

// The raw text of the scalar member `key` of a JSON object (a string without its quotes and
// escapes left as written, or a number), found by scanning its top-level members; nullopt when
// absent or when the text is malformed before it. Used to name a question whose JSON is invalid.
std::optional<std::string> peek_scalar_member(std::string_view object_text, std::string_view key);

}  // namespace qrag::lamp
