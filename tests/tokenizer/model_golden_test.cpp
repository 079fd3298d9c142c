// Agreement with Hugging Face `tokenizers` on the vocabularies of the models in models/.
// The goldens come from scripts/goldens/make_tokenizer_goldens.py.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/test_paths.h"
#include "gguf/gguf_file.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace qrag::tokenizer {
namespace {

struct GoldenCase {
  std::string text;
  bool add_special = false;
  bool parse_special = false;
  std::vector<std::int32_t> tokens;
  std::string detokenized;
};

// One golden file and the model it was made from. `model` is empty when models/
// lacks the file.
struct ModelGolden {
  std::filesystem::path model;
  int n_vocab = 0;
  bool has_chat_template = false;
  std::vector<GoldenCase> cases;
};

ModelGolden load_golden(const std::string& name) {
  std::ifstream in(testing::test_data("tokenizer/" + name + ".json"));
  if (!in) throw std::runtime_error("missing tests/data/tokenizer/" + name + ".json");
  const nlohmann::json json = nlohmann::json::parse(in);
  ModelGolden golden;
  const auto model = testing::source_dir() / "models" / json.at("model_file").get<std::string>();
  if (std::filesystem::exists(model)) golden.model = model;
  golden.n_vocab = json.at("n_vocab").get<int>();
  golden.has_chat_template = json.at("has_chat_template").get<bool>();
  for (const auto& c : json.at("cases")) {
    golden.cases.push_back(
        {c.at("text").get<std::string>(), c.at("add_special").get<bool>(), c.at("parse_special").get<bool>(),
         c.at("tokens").get<std::vector<std::int32_t>>(), c.at("detokenized").get<std::string>()});
  }
  return golden;
}

std::string describe(std::size_t index, const GoldenCase& c) {
  return fmt::format("case {} {:?} (add_special={}, parse_special={})", index, c.text, c.add_special,
                     c.parse_special);
}

class ModelTokenizerGolden : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    golden_ = load_golden(GetParam());
    if (golden_.model.empty())
      GTEST_SKIP() << "needs the model of " << GetParam() << " in models/ (scripts/setup.sh)";
    file_ = std::make_unique<gguf::GgufFile>(gguf::GgufFile::open(golden_.model));
    tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(*file_));
    ASSERT_EQ(tokenizer_->n_vocab(), golden_.n_vocab) << golden_.model;
    ASSERT_GE(golden_.cases.size(), 60u);
  }

  ModelGolden golden_;
  std::unique_ptr<gguf::GgufFile> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_P(ModelTokenizerGolden, EncodeMatchesReference) {
  for (std::size_t i = 0; i < golden_.cases.size(); ++i) {
    const GoldenCase& c = golden_.cases[i];
    const std::vector<std::int32_t> actual = tokenizer_->encode(c.text, c.add_special, c.parse_special);
    EXPECT_EQ(actual, c.tokens) << describe(i, c) << "\n  expected " << fmt::format("{}", c.tokens)
                                << "\n  actual   " << fmt::format("{}", actual);
  }
}

TEST_P(ModelTokenizerGolden, DecodeMatchesReference) {
  for (std::size_t i = 0; i < golden_.cases.size(); ++i) {
    const GoldenCase& c = golden_.cases[i];
    EXPECT_EQ(tokenizer_->decode(c.tokens, false), c.detokenized) << describe(i, c);
  }
}

// Both vocabularies encode every byte (byte-level BPE, or SentencePiece byte
// fallback without a space prefix), so decoding restores the text. The exceptions
// are texts that the reference itself does not restore (a literal U+2581 decodes
// as a space in SentencePiece) and control tokens, which decode drops.
TEST_P(ModelTokenizerGolden, RoundTripRestoresText) {
  int checked = 0;
  for (std::size_t i = 0; i < golden_.cases.size(); ++i) {
    const GoldenCase& c = golden_.cases[i];
    if (c.parse_special || c.detokenized != c.text) continue;
    EXPECT_EQ(tokenizer_->decode(tokenizer_->encode(c.text, c.add_special, false), false), c.text)
        << describe(i, c);
    ++checked;
  }
  EXPECT_GE(checked, 50);
}

TEST_P(ModelTokenizerGolden, ChatTemplateMetadata) {
  const auto jinja = file_->find_string("tokenizer.chat_template");
  EXPECT_EQ(jinja.has_value(), golden_.has_chat_template);
}

INSTANTIATE_TEST_SUITE_P(Models, ModelTokenizerGolden, ::testing::Values("smollm2-135m", "gemma3-270m"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

std::unique_ptr<gguf::GgufFile> open_model(const std::string& file_name) {
  const auto path = testing::source_dir() / "models" / file_name;
  if (!std::filesystem::exists(path)) return nullptr;
  return std::make_unique<gguf::GgufFile>(gguf::GgufFile::open(path));
}

// SmolLM2-135M-Instruct ships a ChatML template. The rendered prompt must map its
// markers to the control tokens <|im_start|> (1) and <|im_end|> (2).
TEST(ModelChatTemplate, SmolLM2IsChatml) {
  const auto file = open_model("SmolLM2-135M-Instruct.Q4_1.gguf");
  if (!file) GTEST_SKIP() << "needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/setup.sh)";
  const auto jinja = file->find_string("tokenizer.chat_template");
  ASSERT_TRUE(jinja.has_value());
  EXPECT_EQ(detect_chat_template(*jinja), ChatTemplate::kChatml);

  const Tokenizer tokenizer = Tokenizer::from_gguf(*file);
  const std::vector<ChatMessage> chat = {{"user", "Hi"}};
  const auto ids = tokenizer.encode(render_chat(ChatTemplate::kChatml, chat, true), true, true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), 1);  // no BOS, because add_bos_token is false
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 1), 2) << fmt::format("{}", ids);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 2), 1) << fmt::format("{}", ids);
  EXPECT_TRUE(tokenizer.is_eog(2));
}

// The Gemma 3 270M file is the pretrained model and has no tokenizer.chat_template,
// so chat prompts use the gemma format without detection. Its turn markers must be
// control tokens, and <end_of_turn> must end generation.
TEST(ModelChatTemplate, Gemma3HasTurnTokens) {
  const auto file = open_model("gemma-3-270m-q4_k_m.gguf");
  if (!file) GTEST_SKIP() << "needs models/gemma-3-270m-q4_k_m.gguf (scripts/setup.sh)";
  EXPECT_FALSE(file->find_string("tokenizer.chat_template").has_value());

  const Tokenizer tokenizer = Tokenizer::from_gguf(*file);
  const auto start = tokenizer.find_token("<start_of_turn>");
  const auto end = tokenizer.find_token("<end_of_turn>");
  ASSERT_TRUE(start.has_value());
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(tokenizer.is_control(*start));
  EXPECT_TRUE(tokenizer.is_eog(*end));
  EXPECT_EQ(tokenizer.eot(), *end);

  const std::vector<ChatMessage> chat = {{"user", "Hi"}};
  const auto ids = tokenizer.encode(render_chat(ChatTemplate::kGemma, chat, true), true, true);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids[0], tokenizer.bos());
  EXPECT_EQ(ids[1], *start);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), *start), 2);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), *end), 1);
}

}  // namespace
}  // namespace qrag::tokenizer
