// Output parsers: from a model's raw generation to the prediction string the metrics score.
#include "lamp/parser.h"

#include <cctype>
#include <fmt/format.h>

#include "core/error.h"
#include "lamp/query.h"

namespace qrag::lamp {

RatingParser parse_rating_parser(std::string_view name) {
  if (name == "official") return RatingParser::kOfficial;
  if (name == "first-digit") return RatingParser::kFirstDigit;
  if (name == "robust") return RatingParser::kRobust;
  throw Error(fmt::format("unknown rating parser '{}': expected official, first-digit or robust", name));
}

LabelParser parse_label_parser(std::string_view name) {
  if (name == "official") return LabelParser::kOfficial;
  if (name == "lenient") return LabelParser::kLenient;
  throw Error(fmt::format("unknown label parser '{}': expected official or lenient", name));
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

// The first standalone number in [1, 5]: digits with an optional ".digits" part, with no letter,
// digit or decimal point attached ("4", "4.5", "(3)" and "3/5" all qualify).
std::string first_standalone_rating(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i])) {
      ++i;
      continue;
    }
    const std::size_t start = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    if (i + 1 < text.size() && text[i] == '.' && is_digit(text[i + 1])) {
      ++i;
      while (i < text.size() && is_digit(text[i])) ++i;
    }
    const bool glued_before = start > 0 && (is_word(text[start - 1]) || text[start - 1] == '.');
    const bool glued_after = i < text.size() && is_word(text[i]);
    if (glued_before || glued_after) continue;
    const std::string number(text.substr(start, i - start));
    const double value = std::stod(number);
    if (value >= 1.0 && value <= 5.0) return number;
  }
  return "";
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string parse_rating(std::string_view raw, RatingParser parser) {
  switch (parser) {
    case RatingParser::kOfficial:
      return std::string(strip(raw));
    case RatingParser::kFirstDigit:
      // The study reads the first character of the raw output, without stripping.
      if (!raw.empty() && raw.front() >= '1' && raw.front() <= '5') return std::string(1, raw.front());
      return "0";
    case RatingParser::kRobust:
      return first_standalone_rating(raw);
  }
  return {};
}

std::string parse_label(std::string_view raw, const TaskInfo& task, LabelParser parser) {
  const std::string_view stripped = strip(raw);
  if (parser == LabelParser::kOfficial) return std::string(stripped);
  std::string_view trimmed = stripped;
  auto is_trim = [](char c) { return c == '"' || c == '\'' || c == '.' || c == '`' || c == ' '; };
  while (!trimmed.empty() && is_trim(trimmed.front())) trimmed.remove_prefix(1);
  while (!trimmed.empty() && is_trim(trimmed.back())) trimmed.remove_suffix(1);
  const std::string key = lower(trimmed);
  for (std::string_view label : task.labels) {
    if (key == lower(label)) return std::string(label);
    // "[1]" also accepts "1".
    if (label.size() > 2 && label.front() == '[' && label.back() == ']' &&
        key == lower(label.substr(1, label.size() - 2))) {
      return std::string(label);
    }
  }
  const std::string haystack = lower(stripped);
  std::string_view found;
  std::size_t matches = 0;
  for (std::string_view label : task.labels) {
    if (haystack.find(lower(label)) != std::string::npos) {
      found = label;
      ++matches;
    }
  }
  if (matches == 1) return std::string(found);
  return std::string(stripped);
}

std::string parse_generation(std::string_view raw, const GenerationParser& parser) {
  std::string_view text = strip(raw);
  if (parser.cut_at_quote && !text.empty() && text.front() == '"') {
    text.remove_prefix(1);
    const std::size_t close = text.find('"');
    if (close != std::string_view::npos) text = text.substr(0, close);
  }
  if (parser.cut_at_newline) {
    const std::size_t newline = text.find_first_of("\r\n");
    if (newline != std::string_view::npos) text = text.substr(0, newline);
  }
  return std::string(strip(text));
}

ParsedOutput parse_output(std::string_view raw, const TaskInfo& task, const ParserOptions& options) {
  ParsedOutput out;
  out.raw = std::string(raw);
  switch (task.kind) {
    case TaskKind::kRating: out.prediction = parse_rating(raw, options.rating); break;
    case TaskKind::kClassification: out.prediction = parse_label(raw, task, options.label); break;
    case TaskKind::kGeneration: out.prediction = parse_generation(raw, options.generation); break;
  }
  return out;
}

}  // namespace qrag::lamp
