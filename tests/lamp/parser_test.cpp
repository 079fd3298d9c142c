// Tests of the output parsers.
#include <gtest/gtest.h>

#include "core/error.h"
#include "lamp/parser.h"

namespace qrag::lamp {
namespace {

TEST(RatingParse, OfficialStripsOnly) {
  EXPECT_EQ(parse_rating("  4\n", RatingParser::kOfficial), "4");
  EXPECT_EQ(parse_rating("Score: 4", RatingParser::kOfficial), "Score: 4");
}

TEST(RatingParse, FirstDigitReadsFirstCharacter) {
  EXPECT_EQ(parse_rating("4 stars", RatingParser::kFirstDigit), "4");
  EXPECT_EQ(parse_rating(" 4", RatingParser::kFirstDigit), "0");
  EXPECT_EQ(parse_rating("6", RatingParser::kFirstDigit), "0");
  EXPECT_EQ(parse_rating("", RatingParser::kFirstDigit), "0");
}

TEST(RatingParse, RobustFindsStandaloneNumber) {
  EXPECT_EQ(parse_rating("I would give it 4 out of 5", RatingParser::kRobust), "4");
  EXPECT_EQ(parse_rating("Score: 4.5.", RatingParser::kRobust), "4.5");
  EXPECT_EQ(parse_rating("(3)", RatingParser::kRobust), "3");
  EXPECT_EQ(parse_rating("10/10, so 5", RatingParser::kRobust), "5");
  EXPECT_EQ(parse_rating("model X5 is 2", RatingParser::kRobust), "2");
  EXPECT_EQ(parse_rating("no number", RatingParser::kRobust), "");
  EXPECT_EQ(parse_rating("7", RatingParser::kRobust), "");
}

TEST(LabelParse, OfficialIsExact) {
  const auto& task = task_info(TaskId::kLamp2Movies);
  EXPECT_EQ(parse_label(" Comedy ", task, LabelParser::kOfficial), "Comedy");
}

TEST(LabelParse, LenientMatchesCaseQuotesAndContainment) {
  const auto& movies = task_info(TaskId::kLamp2Movies);
  EXPECT_EQ(parse_label("\"Comedy\".", movies, LabelParser::kLenient), "comedy");
  EXPECT_EQ(parse_label("The tag is sci-fi", movies, LabelParser::kLenient), "sci-fi");
  EXPECT_EQ(parse_label("dark comedy", movies, LabelParser::kLenient), "dark comedy");
  // Two labels contained: no guess.
  EXPECT_EQ(parse_label("comedy or action", movies, LabelParser::kLenient), "comedy or action");
  const auto& citation = task_info(TaskId::kLamp1);
  EXPECT_EQ(parse_label("2", citation, LabelParser::kLenient), "[2]");
}

TEST(GenerationParse, CutsOnRequest) {
  EXPECT_EQ(parse_generation("  A Title\nExtra", {}), "A Title\nExtra");
  EXPECT_EQ(parse_generation("  A Title\nExtra", {true, false}), "A Title");
  EXPECT_EQ(parse_generation("\"Quoted Title\" and more", {false, true}), "Quoted Title");
  EXPECT_EQ(parse_generation("\"Unclosed", {false, true}), "Unclosed");
}

TEST(OutputParse, KeepsRawText) {
  ParserOptions options;
  options.rating = RatingParser::kRobust;
  const ParsedOutput out = parse_output(" I'd say 4.\n", task_info(TaskId::kLamp3), options);
  EXPECT_EQ(out.raw, " I'd say 4.\n");
  EXPECT_EQ(out.prediction, "4");
  EXPECT_THROW(parse_rating_parser("best"), Error);
  EXPECT_EQ(parse_label_parser("lenient"), LabelParser::kLenient);
}

}  // namespace
}  // namespace qrag::lamp
