// Tests of the LaMP query and document rules and of the task registry.
#include <gtest/gtest.h>

#include "core/error.h"
#include "lamp/query.h"
#include "lamp/task.h"

namespace qrag::lamp {
namespace {

Question make_question(std::string input, std::vector<ProfileItem> profile = {}) {
  Question q{.index = 0,
             .id = "7",
             .input = std::move(input),
             .profile = std::move(profile),
             .user_id = std::nullopt,
             .output = std::nullopt};
  return q;
}

TEST(Tasks, ParseNamesAndAliases) {
  EXPECT_EQ(parse_task("LaMP_3"), TaskId::kLamp3);
  EXPECT_EQ(parse_task("LaMP-3"), TaskId::kLamp3);
  EXPECT_EQ(parse_task("lamp3"), TaskId::kLamp3);
  EXPECT_EQ(parse_task("LaMP_2"), TaskId::kLamp2Movies);
  EXPECT_EQ(parse_task("LaMP-2-old"), TaskId::kLamp2News);
  EXPECT_EQ(parse_task("LongLaMP_topic"), TaskId::kLongLampTopic);
  EXPECT_THROW(parse_task("LaMP_8"), Error);
  EXPECT_EQ(all_tasks().size(), 11u);
  EXPECT_EQ(task_info(TaskId::kLamp2News).golds_task, "LaMP_2");
  EXPECT_EQ(task_info(TaskId::kLamp2Movies).labels.size(), 15u);
}

TEST(Query, AfterMarkerIsStripped) {
  const auto& task = task_info(TaskId::kLamp3);
  EXPECT_EQ(build_query(task, make_question("Score it. review:  Great strings.\n")), "Great strings.");
  EXPECT_EQ(build_query(task_info(TaskId::kLamp5),
                        make_question("Generate a title for the following abstract of a paper: We study X.")),
            "We study X.");
  EXPECT_EQ(build_query(task_info(TaskId::kLamp2Movies), make_question("Which tag? description: A heist.")),
            "A heist.");
  EXPECT_EQ(build_query(task_info(TaskId::kLamp4), make_question("headline for article: Rain today")),
            "Rain today");
  EXPECT_EQ(build_query(task_info(TaskId::kLamp7), make_question("Paraphrase: it: rains")), "it: rains");
}

TEST(Query, MissingMarkerThrows) {
  EXPECT_THROW(build_query(task_info(TaskId::kLamp3), make_question("no marker here")), Error);
}

TEST(Query, Lamp1UsesCandidateTitles) {
  const Question q = make_question(
      "For an author who has written the paper with the title \"Main\", which reference is related? "
      "Just answer with [1] or [2] without explanation. [1]: \"First candidate\" [2]: \"Second one\"");
  EXPECT_EQ(build_query(task_info(TaskId::kLamp1), q), "First candidate Second one");
  EXPECT_THROW(build_query(task_info(TaskId::kLamp1), make_question("only \"one\"")), Error);
}

TEST(Query, QuotesSplitLikeOfficialHelper) {
  EXPECT_EQ(strings_between_quotes("a \"b\" c \"d e\" \"f"), (std::vector<std::string>{"b", "d e"}));
}

TEST(Documents, JoinTaskFields) {
  ProfileItem paper;
  paper.fields = {{"title", "T"}, {"abstract", "A b"}};
  EXPECT_EQ(build_document(task_info(TaskId::kLamp5), paper), "T A b");
  ProfileItem empty_title;
  empty_title.fields = {{"title", ""}, {"abstract", "A"}};
  EXPECT_EQ(build_document(task_info(TaskId::kLamp1), empty_title), " A");  // as f"{title} {abstract}"
  ProfileItem review;
  review.fields = {{"text", "good"}, {"score", "5"}};
  EXPECT_EQ(build_document(task_info(TaskId::kLamp3), review), "good");
}

TEST(Documents, RetrievalDocumentsCarryIdsAndDates) {
  ProfileItem a;
  a.id = "p1";
  a.fields = {{"text", "x"}, {"score", "1"}, {"date", "2014-01-02"}};
  ProfileItem b;
  b.fields = {{"text", "y"}, {"score", "2"}};
  const Question q = make_question("review: z", {a, b});
  const auto docs = retrieval_documents(task_info(TaskId::kLamp3), q);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].id, "p1");
  EXPECT_EQ(docs[0].date, "2014-01-02");
  EXPECT_EQ(docs[1].id, "1");  // no id: the position
  EXPECT_FALSE(docs[1].date.has_value());
}

TEST(Strip, MatchesPythonWhitespace) {
  EXPECT_EQ(strip(" \t\n\v\f\r x y \x1c"), "x y");
  EXPECT_EQ(strip(""), "");
}

}  // namespace
}  // namespace qrag::lamp
