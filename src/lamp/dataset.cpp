// LaMP-format data files: a streaming reader of *_questions.json and a loader of *_outputs.json.
#include "lamp/dataset.h"

#include <algorithm>
#include <fstream>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "core/check.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "lamp/json_scan.h"

namespace qrag::lamp {
namespace od = simdjson::ondemand;

const std::string* ProfileItem::find(std::string_view name) const {
  for (const auto& [key, value] : fields) {
    if (key == name) return &value;
  }
  return nullptr;
}

const std::string& ProfileItem::at(std::string_view name) const {
  const std::string* value = find(name);
  QRAG_CHECK(value != nullptr, "profile field validated on load is missing");
  return *value;
}

namespace {

// Scalar JSON value as text: strings unescaped, numbers and booleans as written; nullopt for null
// and for arrays and objects.
std::optional<std::string> scalar_text(od::value value) {
  switch (value.type().value()) {
    case od::json_type::string:
      return std::string(value.get_string().value());
    case od::json_type::number: {
      std::string_view raw = value.raw_json_token();
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' ||
                              raw.back() == '\t')) {
        raw.remove_suffix(1);
      }
      return std::string(raw);
    }
    case od::json_type::boolean:
      return value.get_bool().value() ? "true" : "false";
    default:
      return std::nullopt;
  }
}

// The location of a schema error, for messages such as
// "data.json: question 12 (id 310): profile item 3: missing field "score"".
struct Place {
  std::string file;
  std::size_t index = 0;
  std::string id;

  [[noreturn]] void fail(const std::string& what) const {
    const std::string id_part = id.empty() ? std::string("no id yet") : "id " + id;
    throw Error(fmt::format("{}: question {} ({}): {}", file, index, id_part, what));
  }
};

ProfileItem parse_item(od::value value, const TaskInfo& task, const Place& place,
                       std::size_t item_index) {
  if (value.type().value() != od::json_type::object) {
    place.fail(fmt::format("profile item {} is not a JSON object", item_index));
  }
  ProfileItem item;
  for (auto field : value.get_object()) {
    const std::string_view key = field.unescaped_key().value();
    std::optional<std::string> text = scalar_text(field.value().value());
    if (!text) continue;
    if (key == "id") {
      item.id = std::move(*text);
    } else {
      item.fields.emplace_back(std::string(key), std::move(*text));
    }
  }
  for (std::string_view required : task.profile_fields) {
    if (item.find(required) == nullptr) {
      place.fail(fmt::format("profile item {} (id {}): missing field \"{}\" required by {}; every {} "
                             "profile item needs the fields {}",
                             item_index, item.id.empty() ? "none" : item.id, required, task.name,
                             task.name, fmt::join(task.profile_fields, ", ")));
    }
  }
  return item;
}

void parse_question(od::document& doc, const TaskInfo& task, Place& place, Question& question) {
  bool has_input = false;
  bool has_profile = false;
  od::object object = doc.get_object().value();
  for (auto field : object) {
    const std::string_view key = field.unescaped_key().value();
    od::value value = field.value().value();
    if (key == "id") {
      auto text = scalar_text(value);
      if (!text) place.fail("field \"id\" must be a string or a number");
      question.id = std::move(*text);
      place.id = question.id;
    } else if (key == "input") {
      if (value.type().value() != od::json_type::string) place.fail("field \"input\" must be a string");
      question.input = std::string(value.get_string().value());
      has_input = true;
    } else if (key == "profile") {
      if (value.type().value() != od::json_type::array) place.fail("field \"profile\" must be an array");
      std::size_t item_index = 0;
      for (auto element : value.get_array()) {
        question.profile.push_back(parse_item(element.value(), task, place, item_index++));
      }
      has_profile = true;
    } else if (key == "user_id") {
      question.user_id = scalar_text(value);
    } else if (key == "output") {
      question.output = scalar_text(value);
    }
  }
  if (question.id.empty()) place.fail("missing field \"id\"");
  if (!has_input) place.fail("missing field \"input\"");
  if (!has_profile) place.fail("missing field \"profile\"");
}

}  // namespace

struct QuestionReader::State {
  std::filesystem::path path;
  const TaskInfo* task = nullptr;
  core::MappedFile file;
  ArrayScanner scanner;
  od::parser parser;
  std::size_t index = 0;

  State(const std::filesystem::path& p, TaskId id, core::MappedFile f)
      : path(p),
        task(&task_info(id)),
        file(std::move(f)),
        scanner(std::string_view(reinterpret_cast<const char*>(file.data()), file.size()), "golds",
                p.string()) {}
};

QuestionReader::QuestionReader(const std::filesystem::path& path, TaskId task)
    : state_(std::make_unique<State>(path, task, core::MappedFile::open(path))) {}
QuestionReader::~QuestionReader() = default;
QuestionReader::QuestionReader(QuestionReader&&) noexcept = default;
QuestionReader& QuestionReader::operator=(QuestionReader&&) noexcept = default;

const std::filesystem::path& QuestionReader::path() const { return state_->path; }

bool QuestionReader::next(Question& question) {
  State& s = *state_;
  const std::optional<std::string_view> element = s.scanner.next();
  if (!element) return false;

  question = Question{};
  question.index = s.index++;
  Place place{s.path.string(), question.index, {}};
  // simdjson reads up to SIMDJSON_PADDING bytes past the end, so the element is copied into a
  // padded buffer. Only one question is held at a time.
  const simdjson::padded_string buffer(element->data(), element->size());
  try {
    od::document doc = s.parser.iterate(buffer).value();
    if (doc.type().value() != od::json_type::object) place.fail("the question is not a JSON object");
    parse_question(doc, *s.task, place, question);
  } catch (const simdjson::simdjson_error& error) {
    if (place.id.empty()) place.id = peek_scalar_member(*element, "id").value_or("");
    place.fail(fmt::format("invalid JSON: {}", error.what()));
  }
  return true;
}

std::vector<Question> load_questions(const std::filesystem::path& path, TaskId task,
                                     std::size_t limit) {
  QuestionReader reader(path, task);
  std::vector<Question> questions;
  Question question;
  while ((limit == 0 || questions.size() < limit) && reader.next(question)) {
    questions.push_back(std::move(question));
  }
  return questions;
}

OutputSet load_outputs(const std::filesystem::path& path) {
  const core::MappedFile file = core::MappedFile::open(path);
  const std::string name = path.string();
  const simdjson::padded_string buffer(reinterpret_cast<const char*>(file.data()), file.size());
  od::parser parser;
  OutputSet set;
  std::size_t index = 0;
  try {
    od::document doc = parser.iterate(buffer).value();
    if (doc.type().value() != od::json_type::object) {
      throw Error(name + ": expected an object {\"task\": ..., \"golds\": [{\"id\", \"output\"}]}");
    }
    bool has_golds = false;
    for (auto member : doc.get_object()) {
      const std::string_view key = member.unescaped_key().value();
      od::value value = member.value().value();
      if (key == "task") {
        set.task = scalar_text(value).value_or("");
      } else if (key == "golds") {
        has_golds = true;
        for (auto element : value.get_array()) {
          std::optional<std::string> id;
          std::optional<std::string> output;
          for (auto field : element.get_object()) {
            const std::string_view field_key = field.unescaped_key().value();
            if (field_key == "id") id = scalar_text(field.value().value());
            if (field_key == "output") output = scalar_text(field.value().value());
          }
          if (!id) throw Error(fmt::format("{}: golds entry {}: missing field \"id\"", name, index));
          if (!output) {
            throw Error(fmt::format("{}: golds entry {} (id {}): missing field \"output\"", name, index, *id));
          }
          set.items.emplace_back(std::move(*id), std::move(*output));
          ++index;
        }
      }
    }
    if (!has_golds) throw Error(name + ": missing member \"golds\"");
  } catch (const simdjson::simdjson_error& error) {
    throw Error(fmt::format("{}: invalid JSON near golds entry {}: {}", name, index, error.what()));
  }
  return set;
}

namespace {

// JSON string literal of `text` (UTF-8 passed through, control characters escaped).
std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace

void write_outputs(const std::filesystem::path& path, const OutputSet& set) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error("cannot open " + path.string() + " for writing");
  out << "{\"task\": " << json_quote(set.task) << ", \"golds\": [";
  for (std::size_t i = 0; i < set.items.size(); ++i) {
    if (i > 0) out << ", ";
    out << "{\"id\": " << json_quote(set.items[i].first)
        << ", \"output\": " << json_quote(set.items[i].second) << "}";
  }
  out << "]}\n";
  if (!out) throw Error("failed to write " + path.string());
}

std::string IdCheck::summary() const {
  auto list = [](const std::vector<std::string>& ids) {
    const std::size_t shown = std::min<std::size_t>(ids.size(), 5);
    std::string text = fmt::format("{}", fmt::join(ids.begin(), ids.begin() + static_cast<long>(shown), ", "));
    if (ids.size() > shown) text += fmt::format(", ... ({} in all)", ids.size());
    return text;
  };
  std::string out;
  if (!missing.empty()) out += fmt::format("{} missing ids ({})", missing.size(), list(missing));
  if (!extra.empty()) {
    out += fmt::format("{}{} unexpected ids ({})", out.empty() ? "" : "; ", extra.size(), list(extra));
  }
  if (!duplicates.empty()) {
    out += fmt::format("{}{} duplicated ids ({})", out.empty() ? "" : "; ", duplicates.size(),
                       list(duplicates));
  }
  return out.empty() ? "ids match" : out;
}

IdCheck compare_ids(const std::vector<std::string>& expected, const std::vector<std::string>& actual) {
  IdCheck check;
  const std::unordered_set<std::string> expected_set(expected.begin(), expected.end());
  std::unordered_map<std::string, int> seen;
  for (const std::string& id : actual) {
    const int count = ++seen[id];
    if (count == 2) check.duplicates.push_back(id);
    if (count == 1 && !expected_set.contains(id)) check.extra.push_back(id);
  }
  for (const std::string& id : expected) {
    if (!seen.contains(id)) check.missing.push_back(id);
  }
  return check;
}

}  // namespace qrag::lamp
