// Chat prompt formats: detection from a Jinja `tokenizer.chat_template` and rendering.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qrag::tokenizer {

// Chat template families. The first group can be rendered; the second group is
// only recognized, so that a model shipping such a template gets a clear error.
enum class ChatTemplate {
  // Rendered by render_chat().
  kChatml,    // <|im_start|>role\n...<|im_end|>\n (SmolLM2, Qwen2)
  kLlama2,    // [INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST]
  kLlama3,    // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
  kMistral,   // [INST] ... [/INST], system text merged into the first user turn
  kZephyr,    // <|system|>\n...</s>\n<|user|>\n...</s>\n<|assistant|>\n
  kOpenchat,  // GPT4 Correct User: ...<|end_of_turn|>GPT4 Correct Assistant: (also Starling)
  kGemma,     // <start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n
  kPhi3,      // <|user|>\n...<|end|>\n<|assistant|>\n
  // Recognized only.
  kAlpaca,           // ### Instruction:\n ... ### Response:
  kStarcoder2,       // ### Instruction\n ... ### Response\n
  kMagicoder,        // @@ Instruction\n ... @@ Response\n
  kCodellama70b,     // Source: user\n\n ... <step> Source: assistant\nDestination: user
  kChatqa,           // System: ... User: ... Assistant:
  kFalcon,           // User: ... Falcon:
  kGranite,          // Question:\n ... Answer:\n
  kSolar,            // ### System:\n ### User:\n ### Assistant:\n
  kAlfred,           // <start_user>...<end_message><start_assistant>
};

// One chat turn. `role` is "system", "user" or "assistant".
struct ChatMessage {
  std::string role;
  std::string content;
};

// The command-line name of a family ("chatml", "llama2", ...).
std::string_view chat_template_name(ChatTemplate tmpl);

// True for the families render_chat() supports.
bool can_render(ChatTemplate tmpl);

// Parses a name given by the user (--chat-template NAME); "starling" and
// "openchat-3.5" are aliases of "openchat". Throws qrag::Error naming the value and
// listing the known names.
ChatTemplate parse_chat_template_name(std::string_view name);

// Recognizes the family of a Jinja chat template from its distinctive literals
// (header tokens, role markers). nullopt when no known family matches.
std::optional<ChatTemplate> detect_chat_template(std::string_view jinja);

// Renders `messages` into the prompt text, with control tokens written as text
// ("<|im_start|>"), so tokenize it with parse_special=true. The leading BOS is not
// part of the text (encode adds it with add_special=true); BOS/EOS inside the
// history (Llama 2, Mistral, Zephyr) are written as "<s>"/"</s>".
// add_generation_prompt appends the opening of an assistant turn; Llama 2 and
// Mistral need none, because their user turn ends with [/INST].
// Throws qrag::Error for a family that cannot be rendered, an unknown role, or a
// system message that is not the first message.
std::string render_chat(ChatTemplate tmpl, std::span<const ChatMessage> messages,
                        bool add_generation_prompt);

}  // namespace qrag::tokenizer
