// The LaMP and LongLaMP task registry: names, label sets, profile schemas and query rules.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace qrag::lamp {

enum class TaskId {
  kLamp1,          // citation identification, labels "[1]"/"[2]"
  kLamp2Movies,    // movie tagging (the current LaMP-2)
  kLamp2News,      // news categorisation (the first LaMP-2 release)
  kLamp3,          // product rating, "1".."5"
  kLamp4,          // news headline generation
  kLamp5,          // scholarly title generation
  kLamp6,          // email subject generation
  kLamp7,          // tweet paraphrasing
  kLongLampAbstract,  // LongLaMP abstract generation
  kLongLampReview,    // LongLaMP product review writing
  kLongLampTopic,     // LongLaMP topic writing (Reddit posts)
};

enum class TaskKind {
  kClassification,  // accuracy and macro-F1 over a fixed label set
  kRating,          // MAE and RMSE over the 1..5 scale
  kGeneration,      // ROUGE-1 and ROUGE-L
};

// How the retrieval query is cut out of a question's input.
enum class QueryRule {
  kAfterMarker,     // text after the first occurrence of `query_marker`, stripped
  kQuotedTitles,    // LaMP-1: the 2nd and 3rd double-quoted strings joined by a space
  kWholeInput,      // the whole input, stripped
};

struct TaskInfo {
  TaskId id;
  std::string_view name;         // canonical name, e.g. "LaMP_3" or "LongLaMP_review"
  std::string_view golds_task;   // value of "task" in the official outputs files
  TaskKind kind;
  std::span<const std::string_view> labels;          // fixed label set; empty for generation
  std::span<const std::string_view> profile_fields;  // fields every profile item must have
  std::span<const std::string_view> document_fields; // joined with one space into the retrieval text
  std::string_view long_field;   // the field the prompt budget may truncate
  QueryRule query_rule;
  std::string_view query_marker; // for QueryRule::kAfterMarker
};

// Returns the registry entry of `id`.
const TaskInfo& task_info(TaskId id);

// Returns every registered task, LaMP first.
std::span<const TaskInfo> all_tasks();

// Parses a task name. Accepts the canonical names ("LaMP_2", "LaMP_2_news", "LongLaMP_topic"),
// hyphens for underscores, any case, "lampN", "LaMP-2-old" for the news version and
// "LaMP_2_movies". Throws qrag::Error listing the valid names otherwise.
TaskId parse_task(std::string_view name);

// Comma-separated list of the canonical names, for help texts and errors.
std::string task_names();

}  // namespace qrag::lamp
