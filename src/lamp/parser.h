// Output parsers: from a model's raw generation to the prediction string the metrics score.
#pragma once

#include <string>
#include <string_view>

#include "lamp/task.h"

namespace qrag::lamp {

enum class RatingParser {
  kOfficial,    // strip only; the metric parses a float, and an unparseable prediction scores
                // as the scale end farthest from the gold
  kFirstDigit,  // the study's rule: the first character if it is 1-5, else "0"
  kRobust,      // the first standalone number in [1, 5]; else "" (the official fallback)
};

enum class LabelParser {
  kOfficial,  // strip only; anything but an exact label is wrong
  kLenient,   // case-insensitive match after trimming quotes, brackets and final punctuation,
              // else the only label the text contains
};

struct GenerationParser {
  bool cut_at_newline = false;  // keep the text before the first line break
  bool cut_at_quote = false;    // for output that opens with '"', keep the text up to the closing '"'
};

// How to turn raw generations into predictions, per task kind.
struct ParserOptions {
  RatingParser rating = RatingParser::kOfficial;
  LabelParser label = LabelParser::kOfficial;
  GenerationParser generation;
};

// Parses "official", "first-digit" or "robust"; throws qrag::Error otherwise.
RatingParser parse_rating_parser(std::string_view name);
// Parses "official" or "lenient"; throws qrag::Error otherwise.
LabelParser parse_label_parser(std::string_view name);

std::string parse_rating(std::string_view raw, RatingParser parser);
std::string parse_label(std::string_view raw, const TaskInfo& task, LabelParser parser);
std::string parse_generation(std::string_view raw, const GenerationParser& parser);

// A raw generation and the prediction made from it; both are kept for the record.
struct ParsedOutput {
  std::string raw;
  std::string prediction;
};

// Dispatches on the task kind.
ParsedOutput parse_output(std::string_view raw, const TaskInfo& task, const ParserOptions& options);

}  // namespace qrag::lamp
