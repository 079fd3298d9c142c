// Tests of the LaMP data reader and outputs loader on small fixtures and on the shared real sets.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/test_paths.h"
#include "core/error.h"
#include "lamp/dataset.h"

namespace qrag::lamp {
namespace {

using ::testing::HasSubstr;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(Questions, ReadsSmallFixture) {
  const auto questions = load_questions(testing::test_data("lamp/lamp3_small_questions.json"), TaskId::kLamp3);
  ASSERT_EQ(questions.size(), 3u);
  const Question& first = questions[0];
  EXPECT_EQ(first.id, "q1");
  EXPECT_EQ(first.index, 0u);
  EXPECT_EQ(first.user_id, "u1");
  ASSERT_EQ(first.profile.size(), 3u);
  EXPECT_EQ(first.profile[1].id, "p2");
  EXPECT_EQ(first.profile[1].at("score"), "4");  // a JSON number keeps its text
  EXPECT_EQ(first.profile[1].at("date"), "2013-05-06");
  EXPECT_EQ(first.profile[2].find("extra"), nullptr);  // nested values are skipped
  EXPECT_EQ(questions[1].id, "2");  // numeric ids become text
  EXPECT_EQ(questions[1].input, "review: \"quoted\" text with unicode caf\u00e9 \u2603");
  EXPECT_TRUE(questions[1].profile.empty());
  EXPECT_EQ(questions[2].profile[0].id, "");
  EXPECT_EQ(questions[2].output, "5");
}

TEST(Questions, WrappedFormMatchesList) {
  const auto plain = load_questions(testing::test_data("lamp/lamp3_small_questions.json"), TaskId::kLamp3);
  const auto wrapped = load_questions(testing::test_data("lamp/lamp3_small_wrapped.json"), TaskId::kLamp3);
  ASSERT_EQ(plain.size(), wrapped.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(plain[i].id, wrapped[i].id);
    EXPECT_EQ(plain[i].input, wrapped[i].input);
    ASSERT_EQ(plain[i].profile.size(), wrapped[i].profile.size());
    for (std::size_t j = 0; j < plain[i].profile.size(); ++j) {
      EXPECT_EQ(plain[i].profile[j].fields, wrapped[i].profile[j].fields);
    }
  }
}

TEST(Questions, LimitStopsEarly) {
  const auto questions = load_questions(testing::test_data("lamp/lamp3_small_questions.json"), TaskId::kLamp3, 2);
  EXPECT_EQ(questions.size(), 2u);
}

TEST(Questions, MissingFieldNamesPlace) {
  const std::string message = error_of(
      [] { load_questions(testing::test_data("lamp/missing_field.json"), TaskId::kLamp3); });
  EXPECT_THAT(message, HasSubstr("missing_field.json"));
  EXPECT_THAT(message, HasSubstr("question 1 (id a2)"));
  EXPECT_THAT(message, HasSubstr("profile item 1 (id p2)"));
  EXPECT_THAT(message, HasSubstr("\"score\""));
}

TEST(Questions, WrongTaskSchemaFails) {
  // LaMP-3 items lack LaMP-5's title and abstract.
  const std::string message = error_of(
      [] { load_questions(testing::test_data("lamp/lamp3_small_questions.json"), TaskId::kLamp5); });
  EXPECT_THAT(message, HasSubstr("question 0 (id q1)"));
  EXPECT_THAT(message, HasSubstr("\"title\""));
}

TEST(Questions, WrongTypeNamesField) {
  const std::string message =
      error_of([] { load_questions(testing::test_data("lamp/wrong_type.json"), TaskId::kLamp3); });
  EXPECT_THAT(message, HasSubstr("question 0 (id c1)"));
  EXPECT_THAT(message, HasSubstr("\"input\" must be a string"));
}

TEST(Questions, TruncatedFileFails) {
  QuestionReader reader(testing::test_data("lamp/truncated.json"), TaskId::kLamp3);
  Question question;
  ASSERT_TRUE(reader.next(question));  // the first question is complete and still delivered
  EXPECT_EQ(question.id, "b1");
  const std::string message = error_of([&] { reader.next(question); });
  EXPECT_THAT(message, HasSubstr("truncated.json"));
  EXPECT_THAT(message, HasSubstr("unterminated"));
}

TEST(Questions, InvalidElementNamesQuestion) {
  const std::string message =
      error_of([] { load_questions(testing::test_data("lamp/bad_element.json"), TaskId::kLamp3); });
  EXPECT_THAT(message, HasSubstr("question 1 (id d2)"));
  EXPECT_THAT(message, HasSubstr("invalid JSON"));
}

TEST(Questions, ObjectWithoutGoldsFails) {
  const std::string message =
      error_of([] { load_questions(testing::test_data("lamp/not_a_list.json"), TaskId::kLamp3); });
  EXPECT_THAT(message, HasSubstr("\"golds\""));
}

TEST(Questions, MissingFileFails) {
  EXPECT_THROW(load_questions(testing::test_data("lamp/absent.json"), TaskId::kLamp3), Error);
}

TEST(Outputs, LoadsAndRoundTrips) {
  const OutputSet set = load_outputs(testing::test_data("lamp/lamp3_small_outputs.json"));
  EXPECT_EQ(set.task, "LaMP_3");
  ASSERT_EQ(set.items.size(), 3u);
  EXPECT_EQ(set.items[1], std::make_pair(std::string("2"), std::string("3")));
  const auto path = testing::make_temp_dir() / "out.json";
  OutputSet written{"LaMP_5", {{"1", "a \"quoted\"\ntitle\t\x01"}, {"2", "caf\u00e9"}}};
  write_outputs(path, written);
  const OutputSet read = load_outputs(path);
  EXPECT_EQ(read.task, written.task);
  EXPECT_EQ(read.items, written.items);
}

TEST(Outputs, MissingOutputNamesEntry) {
  const std::string message =
      error_of([] { load_outputs(testing::test_data("lamp/outputs_missing_output.json")); });
  EXPECT_THAT(message, HasSubstr("golds entry 1 (id 2)"));
  EXPECT_THAT(message, HasSubstr("\"output\""));
}

TEST(Ids, ReportsMissingExtraDuplicates) {
  const IdCheck check = compare_ids({"1", "2", "3"}, {"2", "3", "3", "4"});
  EXPECT_EQ(check.missing, std::vector<std::string>{"1"});
  EXPECT_EQ(check.extra, std::vector<std::string>{"4"});
  EXPECT_EQ(check.duplicates, std::vector<std::string>{"3"});
  EXPECT_FALSE(check.ok());
  EXPECT_THAT(check.summary(), HasSubstr("1 missing ids (1)"));
  EXPECT_TRUE(compare_ids({"1", "2"}, {"2", "1"}).ok());
}

struct RealSet {
  const char* folder;
  TaskId task;
  std::size_t questions;
  std::size_t items;
};

TEST(Questions, RealSetsHaveDocumentedSizes) {
  const RealSet sets[] = {{"lamp3-amazon-mi", TaskId::kLamp3, 711, 4371},
                          {"lamp5-acl", TaskId::kLamp5, 491, 3602},
                          {"lamp5-long", TaskId::kLamp5, 166, 5258}};
  for (const RealSet& set : sets) {
    const std::string folder = std::string("data/") + set.folder;
    const auto questions_path = testing::shared_file(folder + "/dev_questions.json");
    const auto outputs_path = testing::shared_file(folder + "/dev_outputs.json");
    if (!questions_path || !outputs_path) GTEST_SKIP() << "needs ../shared/" << folder;
    QuestionReader reader(*questions_path, set.task);
    Question question;
    std::size_t n_questions = 0;
    std::size_t n_items = 0;
    std::vector<std::string> ids;
    while (reader.next(question)) {
      ++n_questions;
      n_items += question.profile.size();
      ids.push_back(question.id);
    }
    EXPECT_EQ(n_questions, set.questions) << set.folder;
    EXPECT_EQ(n_items, set.items) << set.folder;
    const OutputSet golds = load_outputs(*outputs_path);
    std::vector<std::string> gold_ids;
    for (const auto& [id, output] : golds.items) gold_ids.push_back(id);
    EXPECT_TRUE(compare_ids(ids, gold_ids).ok()) << set.folder << ": " << compare_ids(ids, gold_ids).summary();
  }
}

}  // namespace
}  // namespace qrag::lamp
