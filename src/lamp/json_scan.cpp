// A byte scanner that finds the elements of one JSON array without parsing them.
#include "lamp/json_scan.h"

#include <fmt/core.h>

#include "core/error.h"

namespace qrag::lamp {
namespace {

constexpr std::size_t kNone = std::string_view::npos;

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::size_t skip_spaces(std::string_view text, std::size_t pos) {
  while (pos < text.size() && is_space(text[pos])) ++pos;
  return pos;
}

// Offset past the string starting at text[start] == '"', or kNone when it is unterminated.
std::size_t skip_string(std::string_view text, std::size_t start) {
  std::size_t i = start + 1;
  while (i < text.size()) {
    if (text[i] == '\\') {
      i += 2;
    } else if (text[i] == '"') {
      return i + 1;
    } else {
      ++i;
    }
  }
  return kNone;
}

// Offset past the value starting at `start`; kNone with `error` set when it is malformed.
std::size_t skip_value(std::string_view text, std::size_t start, const char*& error) {
  if (start >= text.size()) {
    error = "expected a value, found the end of the file";
    return kNone;
  }
  const char first = text[start];
  if (first == '"') {
    const std::size_t end = skip_string(text, start);
    if (end == kNone) error = "unterminated string";
    return end;
  }
  if (first != '[' && first != '{') {
    // A number, true, false or null: runs to the next delimiter.
    std::size_t i = start;
    while (i < text.size() && !is_space(text[i]) && text[i] != ',' && text[i] != ']' && text[i] != '}') ++i;
    if (i == start) error = "expected a value";
    return i == start ? kNone : i;
  }
  std::size_t depth = 0;
  std::size_t i = start;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '"') {
      i = skip_string(text, i);
      if (i == kNone) {
        error = "unterminated string";
        return kNone;
      }
      continue;
    }
    if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      --depth;
      if (depth == 0) return i + 1;
    }
    ++i;
  }
  error = "unterminated array or object";
  return kNone;
}

}  // namespace

ArrayScanner::ArrayScanner(std::string_view text, std::string_view member, std::string file_name)
    : text_(text), member_(member), file_name_(std::move(file_name)) {}

void ArrayScanner::fail(std::size_t at, std::string_view what) const {
  throw Error(fmt::format("{}: invalid JSON at byte {}: {}", file_name_, at, what));
}

void ArrayScanner::skip_whitespace() { pos_ = skip_spaces(text_, pos_); }

std::size_t ArrayScanner::skip_value_or_fail(std::size_t start) const {
  const char* error = "";
  const std::size_t end = skip_value(text_, start, error);
  if (end == kNone) fail(start, error);
  return end;
}

void ArrayScanner::open_array() {
  opened_ = true;
  skip_whitespace();
  if (pos_ >= text_.size()) fail(pos_, "the file is empty");
  if (text_[pos_] == '[') {
    ++pos_;
    return;
  }
  if (text_[pos_] != '{') fail(pos_, "expected a JSON array or an object with \"" + member_ + "\"");
  ++pos_;
  // Walk the members of the top-level object until `member_`, skipping the others.
  while (true) {
    skip_whitespace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      fail(pos_, "the top-level object has no \"" + member_ + "\" array");
    }
    if (pos_ >= text_.size() || text_[pos_] != '"') fail(pos_, "expected a member name");
    const std::size_t key_end = skip_string(text_, pos_);
    if (key_end == kNone) fail(pos_, "unterminated string");
    const std::string_view key = text_.substr(pos_ + 1, key_end - pos_ - 2);
    pos_ = skip_spaces(text_, key_end);
    if (pos_ >= text_.size() || text_[pos_] != ':') fail(pos_, "expected ':' after a member name");
    pos_ = skip_spaces(text_, pos_ + 1);
    if (key == member_) {
      if (pos_ >= text_.size() || text_[pos_] != '[') fail(pos_, "\"" + member_ + "\" is not an array");
      ++pos_;
      return;
    }
    pos_ = skip_spaces(text_, skip_value_or_fail(pos_));
    if (pos_ < text_.size() && text_[pos_] == ',') ++pos_;
  }
}

std::optional<std::string_view> ArrayScanner::next() {
  if (finished_) return std::nullopt;
  if (!opened_) open_array();
  skip_whitespace();
  if (pos_ >= text_.size()) fail(pos_, "unterminated array");
  if (text_[pos_] == ']') {
    ++pos_;
    finished_ = true;
    return std::nullopt;
  }
  if (count_ > 0) {
    if (text_[pos_] != ',') fail(pos_, "expected ',' or ']' between array elements");
    ++pos_;
    skip_whitespace();
  }
  const std::size_t start = pos_;
  pos_ = skip_value_or_fail(start);
  ++count_;
  return text_.substr(start, pos_ - start);
}

std::optional<std::string> peek_scalar_member(std::string_view object_text, std::string_view key) {
  std::size_t pos = skip_spaces(object_text, 0);
  if (pos >= object_text.size() || object_text[pos] != '{') return std::nullopt;
  pos = skip_spaces(object_text, pos + 1);
  const char* error = "";
  while (pos < object_text.size() && object_text[pos] == '"') {
    const std::size_t name_end = skip_string(object_text, pos);
    if (name_end == kNone) return std::nullopt;
    const std::string_view name = object_text.substr(pos + 1, name_end - pos - 2);
    pos = skip_spaces(object_text, name_end);
    if (pos >= object_text.size() || object_text[pos] != ':') return std::nullopt;
    const std::size_t value_start = skip_spaces(object_text, pos + 1);
    const std::size_t value_end = skip_value(object_text, value_start, error);
    if (value_end == kNone) return std::nullopt;
    if (name == key) {
      const std::string_view value = object_text.substr(value_start, value_end - value_start);
      if (value.front() == '"') return std::string(value.substr(1, value.size() - 2));
      if (value.front() == '{' || value.front() == '[') return std::nullopt;
      return std::string(value);
    }
    pos = skip_spaces(object_text, value_end);
    if (pos >= object_text.size() || object_text[pos] != ',') return std::nullopt;
    pos = skip_spaces(object_text, pos + 1);
  }
  return std::nullopt;
}

}  // namespace qrag::lamp
