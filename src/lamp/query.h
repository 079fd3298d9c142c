// Retrieval queries and profile documents built from a question by the official LaMP rules.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lamp/dataset.h"
#include "lamp/task.h"
#include "retrieval/retriever.h"

namespace qrag::lamp {

// The query of `question` for its task: LaMP-1 the two candidate titles joined by a space,
// LaMP-2 the text after "description:" (movies) or "article:" (news), LaMP-3 after "review:",
// LaMP-4 after "article:", LaMP-5 after "paper:", LaMP-6/7 after the first colon (stripped of
// surrounding whitespace). Throws qrag::Error naming the question when the marker is absent.
std::string build_query(const TaskInfo& task, const Question& question);

// The retrieval text of one profile item: the task's document fields joined by one space
// (LaMP-1/5 title+abstract, LaMP-2 news title+text, movies description, LaMP-3 text,
// LaMP-4 title+text, LaMP-6/7 text).
std::string build_document(const TaskInfo& task, const ProfileItem& item);

// build_document for every profile item, in profile order.
std::vector<std::string> build_documents(const TaskInfo& task, const Question& question);

// The profile as retrieval documents: id (the item's id, or its 0-based index when it has none),
// build_document text, and the "date" field when present.
std::vector<retrieval::Document> retrieval_documents(const TaskInfo& task, const Question& question);

// Stores in `out` the text after the first `marker` in `input`, stripped like Python's
// str.strip(). Returns false, leaving `out` unchanged, when `marker` does not occur.
bool extract_after(std::string_view input, std::string_view marker, std::string& out);

// The strings between successive pairs of double quotes, as the official LaMP-1 helper splits them.
std::vector<std::string> strings_between_quotes(std::string_view input);

// Python's str.strip() for ASCII whitespace.
std::string_view strip(std::string_view text);

}  // namespace qrag::lamp
