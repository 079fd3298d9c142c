// Chat template detection by distinctive literals, and the renderers of the supported families.
#include "tokenizer/chat_template.h"

#include <array>

#include <fmt/core.h>

#include "core/error.h"

namespace qrag::tokenizer {
namespace {

struct TemplateName {
  std::string_view name;
  ChatTemplate tmpl;
};

// The first entry of each family is its canonical name.
constexpr std::array<TemplateName, 20> kNames = {{
    {"chatml", ChatTemplate::kChatml},
    {"llama2", ChatTemplate::kLlama2},
    {"llama3", ChatTemplate::kLlama3},
    {"mistral", ChatTemplate::kMistral},
    {"zephyr", ChatTemplate::kZephyr},
    {"openchat", ChatTemplate::kOpenchat},
    {"starling", ChatTemplate::kOpenchat},
    {"openchat-3.5", ChatTemplate::kOpenchat},
    {"gemma", ChatTemplate::kGemma},
    {"phi3", ChatTemplate::kPhi3},
    {"alpaca", ChatTemplate::kAlpaca},
    {"starcoder2", ChatTemplate::kStarcoder2},
    {"magicoder", ChatTemplate::kMagicoder},
    {"codellama-70b", ChatTemplate::kCodellama70b},
    {"chatqa", ChatTemplate::kChatqa},
    {"falcon", ChatTemplate::kFalcon},
    {"granite", ChatTemplate::kGranite},
    {"solar", ChatTemplate::kSolar},
    {"alfred", ChatTemplate::kAlfred},
    {"phi-3", ChatTemplate::kPhi3},
}};

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string trim(std::string_view text) {
  const std::size_t begin = text.find_first_not_of(" \t\n\r\f\v");
  if (begin == std::string_view::npos) return {};
  const std::size_t end = text.find_last_not_of(" \t\n\r\f\v");
  return std::string(text.substr(begin, end - begin + 1));
}

// Splits off a leading system message; throws for a system message elsewhere or
// an unknown role.
std::span<const ChatMessage> split_system(std::span<const ChatMessage> messages, std::string& system) {
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (role != "system" && role != "user" && role != "assistant") {
      throw Error(fmt::format("chat message {}: unknown role '{}'; expected system, user or assistant", i, role));
    }
    if (role == "system" && i != 0) {
      throw Error(fmt::format("chat message {}: a system message is only allowed first", i));
    }
  }
  if (!messages.empty() && messages[0].role == "system") {
    system = messages[0].content;
    return messages.subspan(1);
  }
  return messages;
}

std::string render_chatml(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

// Llama 2 chat: every user turn opens with [INST] (and a BOS after the first),
// the system prompt sits inside the first turn, contents are trimmed.
std::string render_llama2(std::span<const ChatMessage> messages) {
  std::string system;
  const auto turns = split_system(messages, system);
  std::string out;
  bool first = true;
  for (const ChatMessage& m : turns) {
    if (m.role == "user") {
      std::string content;
      if (first && !system.empty()) {
        content.append("<<SYS>>\n").append(system).append("\n<</SYS>>\n\n");
      }
      content.append(m.content);
      if (!first) out += "<s>";
      out.append("[INST] ").append(trim(content)).append(" [/INST]");
      first = false;
    } else {
      out.append(" ").append(trim(m.content)).append(" </s>");
    }
  }
  return out;
}

// Mistral Instruct v0.1/v0.2: no system role, so the system text is prepended to
// the first user turn, separated by a blank line.
std::string render_mistral(std::span<const ChatMessage> messages) {
  std::string system;
  const auto turns = split_system(messages, system);
  std::string out;
  bool first = true;
  for (const ChatMessage& m : turns) {
    if (m.role == "user") {
      const std::string content = first && !system.empty() ? system + "\n\n" + m.content : m.content;
      out += "[INST] " + content + " [/INST]";
      first = false;
    } else {
      out += m.content + "</s>";
    }
  }
  return out;
}

std::string render_llama3(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) {
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string render_zephyr(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) out += "<|" + m.role + "|>\n" + m.content + "</s>\n";
  if (add_generation_prompt) out += "<|assistant|>\n";
  return out;
}

// OpenChat 3.5 and Starling-LM: "GPT4 Correct User: ...<|end_of_turn|>"; a system
// message is written as plain text before the first turn, as llama.cpp does.
std::string render_openchat(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) {
    if (m.role == "system") {
      out += m.content + "<|end_of_turn|>";
    } else {
      out += std::string("GPT4 Correct ") + (m.role == "user" ? "User" : "Assistant") + ": " + m.content +
             "<|end_of_turn|>";
    }
  }
  if (add_generation_prompt) out += "GPT4 Correct Assistant:";
  return out;
}

// Gemma: roles user and model; no system role, so the system text is prepended
// to the first user turn.
std::string render_gemma(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string system;
  const auto turns = split_system(messages, system);
  std::string out;
  bool first = true;
  for (const ChatMessage& m : turns) {
    std::string content = trim(m.content);
    if (m.role == "user" && first && !system.empty()) content = trim(system) + "\n\n" + content;
    if (m.role == "user") first = false;
    out += "<start_of_turn>" + std::string(m.role == "user" ? "user" : "model") + "\n" + content + "<end_of_turn>\n";
  }
  if (add_generation_prompt) out += "<start_of_turn>model\n";
  return out;
}

std::string render_phi3(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
  if (add_generation_prompt) out += "<|assistant|>\n";
  return out;
}

std::string known_names() {
  std::string names;
  for (const TemplateName& entry : kNames) {
    if (!names.empty()) names += ", ";
    names += entry.name;
  }
  return names;
}

}  // namespace

std::string_view chat_template_name(ChatTemplate tmpl) {
  for (const TemplateName& entry : kNames) {
    if (entry.tmpl == tmpl) return entry.name;
  }
  return "unknown";
}

bool can_render(ChatTemplate tmpl) {
  switch (tmpl) {
    case ChatTemplate::kChatml:
    case ChatTemplate::kLlama2:
    case ChatTemplate::kLlama3:
    case ChatTemplate::kMistral:
    case ChatTemplate::kZephyr:
    case ChatTemplate::kOpenchat:
    case ChatTemplate::kGemma:
    case ChatTemplate::kPhi3:
      return true;
    default:
      return false;
  }
}

ChatTemplate parse_chat_template_name(std::string_view name) {
  for (const TemplateName& entry : kNames) {
    if (entry.name == name) return entry.tmpl;
  }
  throw Error(fmt::format("unknown chat template '{}'; known: {}", name, known_names()));
}

std::optional<ChatTemplate> detect_chat_template(std::string_view jinja) {
  // Ordered so that a more specific marker is tested before a more general one
  // (Phi-3 before Zephyr, Llama 2 before Mistral, Alpaca before StarCoder2).
  if (contains(jinja, "<|im_start|>")) return ChatTemplate::kChatml;
  if (contains(jinja, "<|start_header_id|>")) return ChatTemplate::kLlama3;
  if (contains(jinja, "<start_of_turn>")) return ChatTemplate::kGemma;
  if (contains(jinja, "GPT4 Correct ")) return ChatTemplate::kOpenchat;
  if (contains(jinja, "<|end|>") && (contains(jinja, "<|user|>") || contains(jinja, "'<|' + message['role']"))) {
    return ChatTemplate::kPhi3;
  }
  if (contains(jinja, "<|user|>")) return ChatTemplate::kZephyr;
  if (contains(jinja, "Source: ") && contains(jinja, "<step>")) return ChatTemplate::kCodellama70b;
  if (contains(jinja, "[INST]")) return contains(jinja, "<<SYS>>") ? ChatTemplate::kLlama2 : ChatTemplate::kMistral;
  if (contains(jinja, "### Instruction:")) return ChatTemplate::kAlpaca;
  if (contains(jinja, "### Instruction")) return ChatTemplate::kStarcoder2;
  if (contains(jinja, "@@ Instruction")) return ChatTemplate::kMagicoder;
  if (contains(jinja, "<start_user>")) return ChatTemplate::kAlfred;
  if (contains(jinja, "### User:") || contains(jinja, "### System:")) return ChatTemplate::kSolar;
  if (contains(jinja, "Question:") && contains(jinja, "Answer:")) return ChatTemplate::kGranite;
  if (contains(jinja, "Falcon:")) return ChatTemplate::kFalcon;
  if (contains(jinja, "User: ") && contains(jinja, "Assistant:")) return ChatTemplate::kChatqa;
  return std::nullopt;
}

std::string render_chat(ChatTemplate tmpl, std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string unused_system;
  split_system(messages, unused_system);  // validates roles for every family
  switch (tmpl) {
    case ChatTemplate::kChatml: return render_chatml(messages, add_generation_prompt);
    case ChatTemplate::kLlama2: return render_llama2(messages);
    case ChatTemplate::kLlama3: return render_llama3(messages, add_generation_prompt);
    case ChatTemplate::kMistral: return render_mistral(messages);
    case ChatTemplate::kZephyr: return render_zephyr(messages, add_generation_prompt);
    case ChatTemplate::kOpenchat: return render_openchat(messages, add_generation_prompt);
    case ChatTemplate::kGemma: return render_gemma(messages, add_generation_prompt);
    case ChatTemplate::kPhi3: return render_phi3(messages, add_generation_prompt);
    default:
      throw Error(fmt::format("chat template '{}' is recognized but cannot be rendered; use --chat-template with "
                              "one of: chatml, llama2, llama3, mistral, zephyr, openchat, gemma, phi3",
                              chat_template_name(tmpl)));
  }
}

}  // namespace qrag::tokenizer
