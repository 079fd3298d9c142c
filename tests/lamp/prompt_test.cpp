// Tests of prompt styles and rendering: the official LaMP budget, k = max, orders and chat styles.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "common/test_paths.h"
#include "core/error.h"
#include "lamp/prompt.h"
#include "lamp/prompt_style.h"

namespace qrag::lamp {
namespace {

using ::testing::HasSubstr;

PromptStyle repo_style(const char* name) {
  return load_prompt_style(testing::source_dir() / "prompts" / (std::string(name) + ".toml"));
}

std::string words(std::size_t n, const std::string& word = "w") {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += (i ? " " : "") + word + std::to_string(i);
  return out;
}

ProfileItem review(std::string text, std::string score) {
  ProfileItem item;
  item.fields = {{"text", std::move(text)}, {"score", std::move(score)}};
  return item;
}

// Input of 6 words; items: 0 = 30 words, 1 = 5 words, 2 = 4 words.
Question lamp3_question() {
  Question q;
  q.id = "q1";
  q.input = "Rate it. review: great product works";
  q.profile = {review(words(30), "2"), review("nice cheap cable works well", "4"), review("broke after a week", "1")};
  return q;
}

TEST(Styles, RepositoryFilesLoad) {
  const PromptStyle lamp = repo_style("lamp");
  EXPECT_EQ(lamp.name, "lamp");
  EXPECT_TRUE(lamp.truncate_items);
  EXPECT_FALSE(lamp.chat);
  for (const TaskInfo& task : all_tasks()) EXPECT_NO_THROW(lamp.task(task.id)) << task.name;
  const PromptStyle yazan = repo_style("yazan2024");
  EXPECT_TRUE(yazan.chat);
  EXPECT_NO_THROW(yazan.task(TaskId::kLamp3));
  EXPECT_NO_THROW(yazan.task(TaskId::kLamp5));
  EXPECT_THROW(yazan.task(TaskId::kLamp4), Error);
}

TEST(Styles, RejectsUnknownKeysAndPlaceholders) {
  EXPECT_THAT(
      [] {
        try {
          parse_prompt_style("name = 'x'\n[LaMP_3]\nitem = '{stars}'\nprompt = '{items}'\nzero_shot = '{input}'\n",
                             "bad.toml");
        } catch (const Error& e) {
          return std::string(e.what());
        }
        return std::string();
      }(),
      HasSubstr("{stars}"));
  EXPECT_THROW(parse_prompt_style("name = 'x'\ncolour = 1\n", "bad.toml"), Error);
  EXPECT_THROW(parse_prompt_style("name = 'x'\n[LaMP_3]\nitem = '{text}'\nprompt = 'no items'\nzero_shot = 'z'\n",
                                  "bad.toml"),
               Error);
  EXPECT_THROW(parse_prompt_style("name = 'x'\n[LaMP_9]\nitem = '{text}'\n", "bad.toml"), Error);
  EXPECT_THROW(parse_prompt_style("name = = 'x'", "bad.toml"), Error);
  EXPECT_THROW(parse_prompt_style("[LaMP_3]\nitem='{text}'\nprompt='{items}'\nzero_shot='z'\n", "bad.toml"), Error);
}

TEST(Templates, FillAndEscape) {
  const std::string value = "V";
  const auto lookup = [&](std::string_view name) -> const std::string* { return name == "a" ? &value : nullptr; };
  EXPECT_EQ(fill_template("x {a} {{a}} }}", "t", lookup), "x V {a} }");
  EXPECT_THROW(fill_template("{b}", "t", lookup), Error);
  EXPECT_THROW(fill_template("{a", "t", lookup), Error);
  EXPECT_THROW(fill_template("a}", "t", lookup), Error);
}

TEST(LampStyle, RendersOfficialLamp3Text) {
  const PromptStyle style = repo_style("lamp");
  const Question q = lamp3_question();
  const std::vector<std::size_t> ranking = {1, 2};
  PromptOptions options;
  options.k = ItemCount{2};
  WordCounter counter;
  const RenderedPrompt p = render_prompt(style, task_info(TaskId::kLamp3), q, ranking, options, counter);
  EXPECT_EQ(p.text,
            "4 is the score for \"nice cheap cable works well\" , and 1 is the score for \"broke after a week\" . "
            "Rate it. review: great product works");
  EXPECT_EQ(p.items, (std::vector<std::size_t>{1, 2}));
  EXPECT_FALSE(p.lost_content());
}

TEST(LampStyle, ZeroItemsIsInput) {
  const PromptStyle style = repo_style("lamp");
  const Question q = lamp3_question();
  PromptOptions options;
  options.k = ItemCount{0};
  options.item_budget_tokens = 512;
  WordCounter counter;
  const RenderedPrompt p = render_prompt(style, task_info(TaskId::kLamp3), q, std::vector<std::size_t>{0, 1},
                                         options, counter);
  EXPECT_EQ(p.text, q.input);
  EXPECT_TRUE(p.items.empty());
}

// Budget 60, input 6 words: per item floor((60 - 6 - 1 - 2) / 2) = 25 tokens, of which the
// overhead '2 is the score for " " ' takes 7 words, so the first item keeps 18 words.
TEST(LampStyle, BudgetTruncatesLongField) {
  const PromptStyle style = repo_style("lamp");
  const Question q = lamp3_question();
  PromptOptions options;
  options.k = ItemCount{2};
  options.item_budget_tokens = 60;
  WordCounter counter;
  const RenderedPrompt p = render_prompt(style, task_info(TaskId::kLamp3), q, std::vector<std::size_t>{0, 1},
                                         options, counter);
  EXPECT_EQ(p.n_truncated, 1u);
  EXPECT_FALSE(p.input_truncated);
  EXPECT_THAT(p.text, HasSubstr("2 is the score for \"" + words(18) + "\" , and 4 is"));
  EXPECT_LE(counter.count(p.text), 60u);
}

TEST(LampStyle, UnusedTokensCarryForward) {
  const PromptStyle style = repo_style("lamp");
  const Question q = lamp3_question();
  PromptOptions options;
  options.k = ItemCount{2};
  options.item_budget_tokens = 60;
  WordCounter counter;
  // The short item goes first and leaves 13 tokens, so the 30-word item gets 31 and stays whole.
  const RenderedPrompt p = render_prompt(style, task_info(TaskId::kLamp3), q, std::vector<std::size_t>{1, 0},
                                         options, counter);
  EXPECT_EQ(p.n_truncated, 0u);
  EXPECT_THAT(p.text, HasSubstr(words(30)));
}

TEST(LampStyle, TinyBudgetLowersInputShare) {
  const PromptStyle style = repo_style("lamp");
  const Question q = lamp3_question();
  PromptOptions options;
  options.k = ItemCount{2};
  options.item_budget_tokens = 20;
  WordCounter counter;
  const RenderedPrompt p = render_prompt(style, task_info(TaskId::kLamp3), q, std::vector<std::size_t>{0, 1},
                                         options, counter);
  // Shares 0.6..0.2 leave too little for two 7-word overheads; 0.1 keeps 2 input words.
  EXPECT_NEAR(p.input_share_used, 0.1, 1e-9);
  EXPECT_TRUE(p.input_truncated);
  EXPECT_EQ(p.n_truncated, 2u);
  EXPECT_THAT(p.text, HasSubstr("\"\" . Rate it."));
}

TEST(LampStyle, Lamp1InsertsAfterTitle) {
  const PromptStyle style = repo_style("lamp");
  Question q;
  q.id = "1";
  q.input = "For an author who has written the paper with the title \"M\", which reference is related? "
            "[1]: \"A\" [2]: \"B\"";
  ProfileItem item;
  item.fields = {{"title", "Old Paper"}, {"abstract", "x"}};
  q.profile = {item};
  PromptOptions options;
  options.k = ItemCount{1};
  WordCounter counter;
  const RenderedPrompt p =
      render_prompt(style, task_info(TaskId::kLamp1), q, std::vector<std::size_t>{0}, options, counter);
  EXPECT_EQ(p.text,
            "For an author who has written the paper with the title, and \"Old Paper\" \"M\", which reference is "
            "related? [1]: \"A\" [2]: \"B\"");
}

TEST(Orders, ArrangeItems) {
  const std::vector<std::size_t> ranked = {4, 2, 7, 1, 0, 3, 6, 5};
  EXPECT_EQ(arrange_items(ranked, ItemOrder::kRelevanceFirst, 0, "q"), ranked);
  EXPECT_EQ(arrange_items(ranked, ItemOrder::kRelevanceLast, 0, "q"),
            (std::vector<std::size_t>{5, 6, 3, 0, 1, 7, 2, 4}));
  const auto a = arrange_items(ranked, ItemOrder::kShuffled, 7, "q");
  EXPECT_EQ(a, arrange_items(ranked, ItemOrder::kShuffled, 7, "q"));
  EXPECT_NE(a, arrange_items(ranked, ItemOrder::kShuffled, 8, "q"));
  EXPECT_NE(a, arrange_items(ranked, ItemOrder::kShuffled, 7, "other"));
  EXPECT_TRUE(std::is_permutation(a.begin(), a.end(), ranked.begin()));
  EXPECT_EQ(parse_item_order("relevance-last"), ItemOrder::kRelevanceLast);
  EXPECT_THROW(parse_item_order("random"), Error);
}

TEST(ItemCounts, Parse) {
  EXPECT_TRUE(parse_item_count("max").is_max());
  EXPECT_EQ(parse_item_count("5").count, 5u);
  EXPECT_EQ(parse_item_count("0").to_string(), "0");
  EXPECT_THROW(parse_item_count("-1"), Error);
  EXPECT_THROW(parse_item_count("5x"), Error);
  EXPECT_THROW(parse_item_count(""), Error);
}

// Profile of 12 reviews with 3..14 words each; ranking is the reverse profile order.
Question long_question() {
  Question q;
  q.id = "long";
  q.input = "review: the new strings sound bright";
  for (std::size_t i = 0; i < 12; ++i) q.profile.push_back(review(words(3 + i, "r"), std::to_string(1 + i % 5)));
  return q;
}

TEST(MaxItems, StopsAtFirstItemThatDoesNotFit) {
  const PromptStyle style = repo_style("lamp");
  const Question q = long_question();
  std::vector<std::size_t> ranking(q.profile.size());
  std::iota(ranking.rbegin(), ranking.rend(), 0);
  WordCounter counter;
  PromptOptions options;
  options.k = ItemCount{std::nullopt};
  options.context_tokens = 80;
  options.reserved_output_tokens = 10;
  const RenderedPrompt p = render_prompt(style, task_info(TaskId::kLamp3), q, ranking, options, counter);
  ASSERT_GT(p.items.size(), 0u);
  ASSERT_LT(p.items.size(), ranking.size());
  EXPECT_LE(p.n_prompt_tokens + 10, 80u);
  EXPECT_EQ(p.n_dropped, ranking.size() - p.items.size());
  EXPECT_EQ(p.n_truncated, 0u);
  EXPECT_EQ(p.items, std::vector<std::size_t>(ranking.begin(), ranking.begin() + static_cast<long>(p.items.size())));
  // One more whole item would not fit.
  PromptOptions unlimited = options;
  unlimited.k = ItemCount{p.items.size() + 1};
  unlimited.context_tokens = 0;
  const RenderedPrompt bigger = render_prompt(style, task_info(TaskId::kLamp3), q, ranking, unlimited, counter);
  EXPECT_GT(bigger.n_prompt_tokens + 10, 80u);
}

TEST(MaxItems, NeedsContextSize) {
  const PromptStyle style = repo_style("lamp");
  PromptOptions options;
  options.k = ItemCount{std::nullopt};
  WordCounter counter;
  EXPECT_THROW(render_prompt(style, task_info(TaskId::kLamp3), long_question(), std::vector<std::size_t>{0},
                             options, counter),
               Error);
}

TEST(FixedK, DropsLeastRelevantToFit) {
  const PromptStyle style = repo_style("lamp");
  const Question q = long_question();
  const std::vector<std::size_t> ranking = {11, 10, 9, 8};
  WordCounter counter;
  PromptOptions options;
  options.k = ItemCount{4};
  options.context_tokens = 60;
  options.order = ItemOrder::kRelevanceLast;
  const RenderedPrompt p = render_prompt(style, task_info(TaskId::kLamp3), q, ranking, options, counter);
  EXPECT_EQ(p.n_candidates, 4u);
  EXPECT_GT(p.n_dropped, 0u);
  EXPECT_LE(p.n_prompt_tokens, 60u);
  std::vector<std::size_t> kept = p.items;
  std::reverse(kept.begin(), kept.end());  // relevance-last
  EXPECT_EQ(kept, std::vector<std::size_t>(ranking.begin(), ranking.begin() + static_cast<long>(kept.size())));
}

TEST(FixedK, OverBudgetWhenQueryAloneIsTooLong) {
  const PromptStyle style = repo_style("lamp");
  WordCounter counter;
  PromptOptions options;
  options.k = ItemCount{1};
  options.context_tokens = 3;
  const RenderedPrompt p = render_prompt(style, task_info(TaskId::kLamp3), long_question(),
                                         std::vector<std::size_t>{0}, options, counter);
  EXPECT_TRUE(p.over_budget);
  EXPECT_TRUE(p.items.empty());
  EXPECT_EQ(p.n_dropped, 1u);
}

TEST(Ranking, IndexOutsideProfileThrows) {
  const PromptStyle style = repo_style("lamp");
  WordCounter counter;
  PromptOptions options;
  options.k = ItemCount{1};
  EXPECT_THROW(render_prompt(style, task_info(TaskId::kLamp3), lamp3_question(), std::vector<std::size_t>{3},
                             options, counter),
               Error);
}

TEST(YazanStyle, RendersChatPrompt) {
  const PromptStyle style = repo_style("yazan2024");
  const Question q = lamp3_question();
  WordCounter counter;
  PromptOptions options;
  options.k = ItemCount{1};
  EXPECT_THROW(render_prompt(style, task_info(TaskId::kLamp3), q, std::vector<std::size_t>{1}, options, counter),
               Error);  // no chat template given
  options.chat_template = tokenizer::ChatTemplate::kChatml;
  const RenderedPrompt p =
      render_prompt(style, task_info(TaskId::kLamp3), q, std::vector<std::size_t>{1}, options, counter);
  EXPECT_EQ(p.user_text,
            "Here are a couple of review-rating pairs of a user.\n<EXAMPLES>\nReview:\nnice cheap cable works "
            "well\nScore:\n4\n</EXAMPLES>\nWith the given examples, give a score between [1, 2, 3, 4, 5] to the "
            "following review by the same user. Only output the score and nothing else.\nReview:\ngreat product "
            "works\nScore:");
  EXPECT_THAT(p.text, HasSubstr("<|im_start|>user\n" + p.user_text + "<|im_end|>"));
  EXPECT_THAT(p.text, ::testing::StartsWith("<|im_start|>system\n"));
  EXPECT_THAT(p.text, ::testing::EndsWith("<|im_start|>assistant\n"));

  options.k = ItemCount{0};
  const RenderedPrompt zero =
      render_prompt(style, task_info(TaskId::kLamp3), q, std::vector<std::size_t>{1}, options, counter);
  EXPECT_EQ(zero.user_text,
            "Give a score between [1, 2, 3, 4, 5] to the following review. Only output the score and nothing "
            "else.\nReview:\ngreat product works\nScore:");
}

TEST(YazanStyle, KeepsItemsWhole) {
  const PromptStyle style = repo_style("yazan2024");
  WordCounter counter;
  PromptOptions options;
  options.k = ItemCount{1};
  options.item_budget_tokens = 10;  // ignored: this style never truncates
  options.chat_template = tokenizer::ChatTemplate::kChatml;
  const RenderedPrompt p = render_prompt(style, task_info(TaskId::kLamp3), lamp3_question(),
                                         std::vector<std::size_t>{0}, options, counter);
  EXPECT_EQ(p.n_truncated, 0u);
  EXPECT_THAT(p.user_text, HasSubstr(words(30)));
}

}  // namespace
}  // namespace qrag::lamp
