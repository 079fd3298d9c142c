// The LaMP and LongLaMP task registry: the facts of each task as the official LaMP code uses them.
#include "lamp/task.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "core/error.h"

namespace qrag::lamp {
namespace {

using SV = std::string_view;

// Label sets of the official evaluation, in its order (macro-F1 averages over all of them).
constexpr std::array<SV, 2> kLamp1Labels = {"[1]", "[2]"};
constexpr std::array<SV, 15> kLamp2MovieLabels = {
    "sci-fi",  "based on a book", "comedy",          "action",            "twist ending",
    "dystopia", "dark comedy",    "classic",         "psychology",        "fantasy",
    "romance", "thought-provoking", "social commentary", "violence",      "true story"};
constexpr std::array<SV, 15> kLamp2NewsLabels = {
    "food & drink", "sports",   "education",     "parents",        "religion",
    "travel",       "business", "crime",         "science & technology", "culture & arts",
    "entertainment", "politics", "women",        "style & beauty", "healthy living"};
constexpr std::array<SV, 5> kLamp3Labels = {"1", "2", "3", "4", "5"};

constexpr std::array<SV, 2> kTitleAbstract = {"title", "abstract"};
constexpr std::array<SV, 3> kNewsFields = {"title", "text", "category"};
constexpr std::array<SV, 2> kTitleText = {"title", "text"};
constexpr std::array<SV, 2> kMovieFields = {"description", "tag"};
constexpr std::array<SV, 1> kDescription = {"description"};
constexpr std::array<SV, 2> kReviewFields = {"text", "score"};
constexpr std::array<SV, 1> kText = {"text"};
constexpr std::array<SV, 4> kLongReviewFields = {"overall", "summary", "description", "reviewText"};
constexpr std::array<SV, 1> kReviewText = {"reviewText"};
constexpr std::array<SV, 2> kTopicFields = {"summary", "content"};
constexpr std::array<SV, 1> kContent = {"content"};

using K = TaskKind;
using Q = QueryRule;

// NOTE: the LongLaMP field names and query rules follow the LongLaMP release as understood here,
// and have not been checked against files of that release.
const std::array<TaskInfo, 11> kTasks = {{
    {TaskId::kLamp1, "LaMP_1", "LaMP_1", K::kClassification, kLamp1Labels, kTitleAbstract,
     kTitleAbstract, "title", Q::kQuotedTitles, ""},
    {TaskId::kLamp2Movies, "LaMP_2", "LaMP_2", K::kClassification, kLamp2MovieLabels, kMovieFields,
     kDescription, "description", Q::kAfterMarker, "description:"},
    {TaskId::kLamp2News, "LaMP_2_news", "LaMP_2", K::kClassification, kLamp2NewsLabels, kNewsFields,
     kTitleText, "text", Q::kAfterMarker, "article:"},
    {TaskId::kLamp3, "LaMP_3", "LaMP_3", K::kRating, kLamp3Labels, kReviewFields, kText, "text",
     Q::kAfterMarker, "review:"},
    {TaskId::kLamp4, "LaMP_4", "LaMP_4", K::kGeneration, {}, kTitleText, kTitleText, "text",
     Q::kAfterMarker, "article:"},
    {TaskId::kLamp5, "LaMP_5", "LaMP_5", K::kGeneration, {}, kTitleAbstract, kTitleAbstract,
     "abstract", Q::kAfterMarker, "paper:"},
    {TaskId::kLamp6, "LaMP_6", "LaMP_6", K::kGeneration, {}, kTitleText, kText, "text",
     Q::kAfterMarker, ":"},
    {TaskId::kLamp7, "LaMP_7", "LaMP_7", K::kGeneration, {}, kText, kText, "text", Q::kAfterMarker,
     ":"},
    {TaskId::kLongLampAbstract, "LongLaMP_abstract", "LongLaMP_abstract", K::kGeneration, {},
     kTitleAbstract, kTitleAbstract, "abstract", Q::kWholeInput, ""},
    {TaskId::kLongLampReview, "LongLaMP_review", "LongLaMP_review", K::kGeneration, {},
     kLongReviewFields, kReviewText, "reviewText", Q::kWholeInput, ""},
    {TaskId::kLongLampTopic, "LongLaMP_topic", "LongLaMP_topic", K::kGeneration, {}, kTopicFields,
     kContent, "content", Q::kWholeInput, ""},
}};

// Lower case with '-' turned into '_', so "LaMP-2" and "lamp_2" compare equal.
std::string normalize_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    out.push_back(c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

}  // namespace

const TaskInfo& task_info(TaskId id) {
  for (const TaskInfo& info : kTasks) {
    if (info.id == id) return info;
  }
  throw Error("unknown task id");  // unreachable for valid enum values
}

std::span<const TaskInfo> all_tasks() { return kTasks; }

TaskId parse_task(std::string_view name) {
  const std::string key = normalize_name(name);
  for (const TaskInfo& info : kTasks) {
    if (key == normalize_name(info.name)) return info.id;
  }
  // Short forms: "lamp3", "lamp_2_movies", "lamp_2_old" (the news version's name in the LaMP code).
  if (key.size() == 5 && key.starts_with("lamp") && key[4] >= '1' && key[4] <= '7') {
    return parse_task(std::string("LaMP_") + key[4]);
  }
  if (key == "lamp_2_movies" || key == "lamp2_movies") return TaskId::kLamp2Movies;
  if (key == "lamp_2_old" || key == "lamp2_news") return TaskId::kLamp2News;
  if (key == "longlamp_abstract_generation") return TaskId::kLongLampAbstract;
  if (key == "longlamp_product_review") return TaskId::kLongLampReview;
  if (key == "longlamp_topic_writing") return TaskId::kLongLampTopic;
  throw Error("unknown task '" + std::string(name) + "': expected one of " + task_names());
}

std::string task_names() {
  std::string out;
  for (const TaskInfo& info : kTasks) {
    if (!out.empty()) out += ", ";
    out += info.name;
  }
  return out;
}

}  // namespace qrag::lamp
