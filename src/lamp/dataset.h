// LaMP-format data files: a streaming reader of *_questions.json and a loader of *_outputs.json.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lamp/task.h"

namespace qrag::lamp {

// One profile item: its id and every scalar field of the file (strings as they are, numbers,
// booleans and null as their JSON text), in file order. Nested arrays and objects are skipped.
struct ProfileItem {
  std::string id;  // empty when the item has none
  std::vector<std::pair<std::string, std::string>> fields;

  // Returns the field's value, or nullptr when absent.
  const std::string* find(std::string_view name) const;
  // Returns the field's value; the field must exist (the reader validates the task's fields).
  const std::string& at(std::string_view name) const;
};

struct Question {
  std::size_t index = 0;  // 0-based position in the file
  std::string id;
  std::string input;
  std::vector<ProfileItem> profile;
  std::optional<std::string> user_id;
  std::optional<std::string> output;  // present when the questions file also carries the gold
};

// Streams the questions of a file one at a time, so memory stays bounded by the largest question
// (the official LaMP-4 training file is about 800 MB). The file is memory-mapped, and each array
// element is located by a byte scanner and then parsed on its own with simdjson's ondemand API.
// Accepts a JSON array of questions or an object whose "golds" member is that array.
// Schema errors throw qrag::Error naming the file, the question index and id, and the field.
// Not thread-safe: one reader per thread.
class QuestionReader {
 public:
  QuestionReader(const std::filesystem::path& path, TaskId task);
  ~QuestionReader();
  QuestionReader(QuestionReader&&) noexcept;
  QuestionReader& operator=(QuestionReader&&) noexcept;

  // Reads the next question into `question`; returns false at the end of the array.
  bool next(Question& question);

  const std::filesystem::path& path() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Reads up to `limit` questions (0 = all) into memory.
std::vector<Question> load_questions(const std::filesystem::path& path, TaskId task,
                                     std::size_t limit = 0);

// The content of an official outputs (or predictions) file.
struct OutputSet {
  std::string task;                                        // its "task" member
  std::vector<std::pair<std::string, std::string>> items;  // (id, output) in file order
};

// Loads {"task": "LaMP_N", "golds": [{"id", "output"}]}. Ids and outputs may be strings or
// numbers. Throws qrag::Error naming the file, the entry index and the field.
OutputSet load_outputs(const std::filesystem::path& path);

// Writes `set` in the same format.
void write_outputs(const std::filesystem::path& path, const OutputSet& set);

// Differences between an expected and an actual set of ids.
struct IdCheck {
  std::vector<std::string> missing;     // expected but absent
  std::vector<std::string> extra;       // present but not expected
  std::vector<std::string> duplicates;  // listed more than once in the actual set
  bool ok() const { return missing.empty() && extra.empty() && duplicates.empty(); }
  // A one-line summary naming up to five ids of each kind.
  std::string summary() const;
};

IdCheck compare_ids(const std::vector<std::string>& expected, const std::vector<std::string>& actual);

}  // namespace qrag::lamp
