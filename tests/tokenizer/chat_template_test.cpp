// Chat template rendering against hand-written prompts, and family detection on real templates.
#include "tokenizer/chat_template.h"

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/test_paths.h"
#include "core/error.h"
#include "gguf/gguf_file.h"

namespace qrag::tokenizer {
namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "Be brief."},
    {"user", "Rate it."},
    {"assistant", "5"},
    {"user", "Why?"},
};

TEST(ChatRender, Chatml) {
  EXPECT_EQ(render_chat(ChatTemplate::kChatml, kConversation, true),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nRate it.<|im_end|>\n"
            "<|im_start|>assistant\n5<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(render_chat(ChatTemplate::kChatml, std::vector<ChatMessage>{{"user", "Hi"}}, false),
            "<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatRender, Llama2) {
  EXPECT_EQ(render_chat(ChatTemplate::kLlama2, kConversation, true),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nRate it. [/INST] 5 </s><s>[INST] Why? [/INST]");
  EXPECT_EQ(render_chat(ChatTemplate::kLlama2, std::vector<ChatMessage>{{"user", "  Hi \n"}}, true),
            "[INST] Hi [/INST]");
}

TEST(ChatRender, Llama3) {
  EXPECT_EQ(render_chat(ChatTemplate::kLlama3, kConversation, true),
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nRate it.<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n5<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nWhy?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatRender, MistralMergesSystem) {
  EXPECT_EQ(render_chat(ChatTemplate::kMistral, kConversation, true),
            "[INST] Be brief.\n\nRate it. [/INST]5</s>[INST] Why? [/INST]");
}

TEST(ChatRender, Zephyr) {
  EXPECT_EQ(render_chat(ChatTemplate::kZephyr, kConversation, true),
            "<|system|>\nBe brief.</s>\n<|user|>\nRate it.</s>\n<|assistant|>\n5</s>\n<|user|>\nWhy?</s>\n"
            "<|assistant|>\n");
}

TEST(ChatRender, OpenchatAndStarling) {
  const std::vector<ChatMessage> chat = {{"user", "Rate it."}, {"assistant", "5"}, {"user", "Why?"}};
  const std::string expected =
      "GPT4 Correct User: Rate it.<|end_of_turn|>GPT4 Correct Assistant: 5<|end_of_turn|>"
      "GPT4 Correct User: Why?<|end_of_turn|>GPT4 Correct Assistant:";
  EXPECT_EQ(render_chat(ChatTemplate::kOpenchat, chat, true), expected);
  EXPECT_EQ(render_chat(parse_chat_template_name("starling"), chat, true), expected);
}

TEST(ChatRender, GemmaMergesSystem) {
  EXPECT_EQ(render_chat(ChatTemplate::kGemma, kConversation, true),
            "<start_of_turn>user\nBe brief.\n\nRate it.<end_of_turn>\n<start_of_turn>model\n5<end_of_turn>\n"
            "<start_of_turn>user\nWhy?<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatRender, Phi3) {
  EXPECT_EQ(render_chat(ChatTemplate::kPhi3, kConversation, true),
            "<|system|>\nBe brief.<|end|>\n<|user|>\nRate it.<|end|>\n<|assistant|>\n5<|end|>\n"
            "<|user|>\nWhy?<|end|>\n<|assistant|>\n");
}

TEST(ChatRender, RejectsBadInput) {
  EXPECT_THROW(render_chat(ChatTemplate::kChatml, std::vector<ChatMessage>{{"tool", "x"}}, true), Error);
  EXPECT_THROW(render_chat(ChatTemplate::kLlama2, std::vector<ChatMessage>{{"user", "a"}, {"system", "b"}}, true),
               Error);
  EXPECT_THROW(render_chat(ChatTemplate::kAlpaca, kConversation, true), Error);
}

TEST(ChatName, UnknownListsKnownNames) {
  try {
    parse_chat_template_name("vicuna");
    FAIL() << "expected an error";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("vicuna"), std::string::npos) << message;
    EXPECT_NE(message.find("chatml"), std::string::npos) << message;
    EXPECT_NE(message.find("llama3"), std::string::npos) << message;
  }
}

TEST(ChatName, RoundTripsEveryRenderable) {
  for (const ChatTemplate tmpl : {ChatTemplate::kChatml, ChatTemplate::kLlama2, ChatTemplate::kLlama3,
                                  ChatTemplate::kMistral, ChatTemplate::kZephyr, ChatTemplate::kOpenchat,
                                  ChatTemplate::kGemma, ChatTemplate::kPhi3}) {
    EXPECT_TRUE(can_render(tmpl));
    EXPECT_EQ(parse_chat_template_name(chat_template_name(tmpl)), tmpl) << chat_template_name(tmpl);
  }
}

TEST(ChatDetect, RealTemplates) {
  const auto path = testing::shared_file("goldens/chat-templates/templates.jsonl");
  if (!path) GTEST_SKIP() << "needs ../shared/goldens/chat-templates/templates.jsonl";
  const std::map<std::string, ChatTemplate> expected_family = {
      {"chatml", ChatTemplate::kChatml},
      {"zephyr", ChatTemplate::kZephyr},
      {"openchat", ChatTemplate::kOpenchat},
      {"mistral-instruct", ChatTemplate::kMistral},
      {"llama2-chat", ChatTemplate::kLlama2},
      {"llama3-instruct", ChatTemplate::kLlama3},
      {"gemma-instruct", ChatTemplate::kGemma},
      {"phi-3", ChatTemplate::kPhi3},
      {"alpaca", ChatTemplate::kAlpaca},
      {"starcoder2-instruct", ChatTemplate::kStarcoder2},
      {"magicoder", ChatTemplate::kMagicoder},
      {"codellama-70b-instruct", ChatTemplate::kCodellama70b},
      {"chatqa", ChatTemplate::kChatqa},
      {"falcon-instruct", ChatTemplate::kFalcon},
      {"granite-instruct", ChatTemplate::kGranite},
      {"solar-instruct", ChatTemplate::kSolar},
      {"alfred", ChatTemplate::kAlfred},
  };
  std::ifstream in(*path);
  std::string line;
  int count = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto entry = nlohmann::json::parse(line);
    for (const auto& [family, jinja] : entry.items()) {
      ++count;
      const auto it = expected_family.find(family);
      ASSERT_NE(it, expected_family.end()) << "line " << count << ": unexpected family label " << family;
      const auto detected = detect_chat_template(jinja.get<std::string>());
      ASSERT_TRUE(detected.has_value()) << "line " << count << " (" << family << ") not detected";
      EXPECT_EQ(*detected, it->second) << "line " << count << " (" << family << ") detected as "
                                       << chat_template_name(*detected);
    }
  }
  EXPECT_EQ(count, 35);
}

TEST(ChatDetect, UnknownTemplate) {
  EXPECT_FALSE(detect_chat_template("{{ messages[0]['content'] }}").has_value());
}

TEST(ChatDetect, FromGgufMetadata) {
  const auto path = testing::shared_file("models/vocab/ggml-vocab-phi-3.gguf");
  if (!path) GTEST_SKIP() << "needs ../shared/models/vocab/ggml-vocab-phi-3.gguf";
  const gguf::GgufFile file = gguf::GgufFile::open(*path);
  const auto jinja = file.find_string("tokenizer.chat_template");
  ASSERT_TRUE(jinja.has_value());
  EXPECT_EQ(detect_chat_template(*jinja), ChatTemplate::kPhi3);
}

}  // namespace
}  // namespace qrag::tokenizer
