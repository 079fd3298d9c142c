// Retrieval queries and profile documents built from a question by the official LaMP rules.
#include "lamp/query.h"

#include <fmt/core.h>

#include "core/error.h"

namespace qrag::lamp {

std::string_view strip(std::string_view text) {
  // Python's default strip set for ASCII text: space, \t, \n, \v, \f, \r and the
  // separator controls 0x1c-0x1f.
  auto is_space = [](char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f');
  };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

bool extract_after(std::string_view input, std::string_view marker, std::string& out) {
  const std::size_t at = input.find(marker);
  if (at == std::string_view::npos) return false;
  out = std::string(strip(input.substr(at + marker.size())));
  return true;
}

std::vector<std::string> strings_between_quotes(std::string_view input) {
  std::vector<std::string> out;
  bool inside = false;
  std::string current;
  for (char c : input) {
    if (c == '"') {
      if (inside) {
        out.push_back(std::move(current));
        current.clear();
      }
      inside = !inside;
    } else if (inside) {
      current.push_back(c);
    }
  }
  return out;
}

std::string build_query(const TaskInfo& task, const Question& question) {
  switch (task.query_rule) {
    case QueryRule::kWholeInput:
      return std::string(strip(question.input));
    case QueryRule::kQuotedTitles: {
      const std::vector<std::string> quoted = strings_between_quotes(question.input);
      if (quoted.size() < 3) {
        throw Error(fmt::format("question {} (id {}): {} input has {} double-quoted strings, expected "
                                "3 (the paper title and the two candidate titles)",
                                question.index, question.id, task.name, quoted.size()));
      }
      return quoted[1] + " " + quoted[2];
    }
    case QueryRule::kAfterMarker: {
      std::string query;
      if (!extract_after(question.input, task.query_marker, query)) {
        throw Error(fmt::format("question {} (id {}): {} input has no \"{}\" before the query text",
                                question.index, question.id, task.name, task.query_marker));
      }
      return query;
    }
  }
  return {};
}

std::string build_document(const TaskInfo& task, const ProfileItem& item) {
  std::string text;
  for (std::size_t i = 0; i < task.document_fields.size(); ++i) {
    if (i > 0) text.push_back(' ');
    text += item.at(task.document_fields[i]);
  }
  return text;
}

std::vector<std::string> build_documents(const TaskInfo& task, const Question& question) {
  std::vector<std::string> documents;
  documents.reserve(question.profile.size());
  for (const ProfileItem& item : question.profile) documents.push_back(build_document(task, item));
  return documents;
}

std::vector<retrieval::Document> retrieval_documents(const TaskInfo& task, const Question& question) {
  std::vector<retrieval::Document> documents;
  documents.reserve(question.profile.size());
  for (std::size_t i = 0; i < question.profile.size(); ++i) {
    const ProfileItem& item = question.profile[i];
    retrieval::Document document;
    document.id = item.id.empty() ? std::to_string(i) : item.id;
    document.text = build_document(task, item);
    if (const std::string* date = item.find("date")) document.date = *date;
    documents.push_back(std::move(document));
  }
  return documents;
}

}  // namespace qrag::lamp
