// Tokenizer construction, special-token splitting, encode/decode dispatch and streaming.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cctype>

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "core/check.h"
#include "core/error.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace qrag::tokenizer {
namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Texts of end-of-generation tokens used by common chat models.
constexpr std::string_view kEogTexts[] = {"<|eot_id|>", "<|im_end|>",      "<|end|>", "<end_of_turn>",
                                          "<|eom_id|>", "<|end_of_turn|>", "<EOT>",   "<|endoftext|>"};

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (true) {
    const std::size_t hit = text.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(text.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

bool is_special_type(TokenType type) {
  return type == TokenType::kControl || type == TokenType::kUserDefined || type == TokenType::kUnknown;
}

std::string decode_byte_level(std::string_view text) {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    char32_t cp = 0;
    const std::size_t n = decode_one(text, pos, cp);
    const int byte = codepoint_to_byte(cp);
    if (byte >= 0) {
      out.push_back(static_cast<char>(byte));
    } else {
      out.append(text.substr(pos, n));  // not a byte-level symbol: keep the text
    }
    pos += n;
  }
  return out;
}

// The decoded text of a token as llama.cpp's token_to_piece returns it with special=true.
std::string make_piece(const Tokenizer::Impl& impl, std::size_t id) {
  const std::string& text = impl.vocab.tokens[id];
  switch (impl.types[id]) {
    case TokenType::kControl:
    case TokenType::kUserDefined:
    case TokenType::kUnknown:
      return text;
    case TokenType::kByte:
      if (text.size() == 6 && text.starts_with("<0x") && text.ends_with(">")) {
        return std::string(1, static_cast<char>(std::stoi(text.substr(3, 2), nullptr, 16)));
      }
      return text;
    case TokenType::kNormal:
      if (impl.vocab.kind == TokenizerKind::kBytePairEncoding) return decode_byte_level(text);
      return replace_all(text, kSpaceMarker, " ");
    case TokenType::kUnused:
    case TokenType::kUndefined:
      return {};
  }
  return {};
}

// True for a token with U+2581 after some other character ("a\u2581b").
bool has_inner_space_marker(std::string_view token) {
  while (token.starts_with(kSpaceMarker)) token.remove_prefix(kSpaceMarker.size());
  return token.find(kSpaceMarker) != std::string_view::npos;
}

void validate_vocab(const Vocab& vocab) {
  const std::size_t n = vocab.tokens.size();
  if (n == 0) throw Error("tokenizer.ggml.tokens: the vocabulary is empty");
  if (n > static_cast<std::size_t>(INT32_MAX)) {
    throw Error(fmt::format("tokenizer.ggml.tokens: {} tokens exceed the maximum of {} (32-bit ids)", n, INT32_MAX));
  }
  if (!vocab.scores.empty() && vocab.scores.size() != n) {
    throw Error(fmt::format("tokenizer.ggml.scores: {} scores for {} tokens; expected one per token",
                            vocab.scores.size(), n));
  }
  if (!vocab.types.empty() && vocab.types.size() != n) {
    throw Error(fmt::format("tokenizer.ggml.token_type: {} types for {} tokens; expected one per token",
                            vocab.types.size(), n));
  }
  const std::pair<const char*, std::int32_t> ids[] = {
      {"bos", vocab.bos}, {"eos", vocab.eos}, {"eot", vocab.eot}, {"eom", vocab.eom}, {"unknown", vocab.unk},
      {"padding", vocab.pad}, {"separator", vocab.sep}, {"cls", vocab.cls}, {"mask", vocab.mask}};
  for (const auto& [name, id] : ids) {
    if (id < -1 || id >= static_cast<std::int64_t>(n)) {
      throw Error(fmt::format("tokenizer.ggml.{}_token_id: id {} is outside the vocabulary of {} tokens", name,
                              id, n));
    }
  }
}

// Fills the special ids that the vocabulary leaves unset with the conventional tokens.
void apply_default_ids(Tokenizer::Impl& impl) {
  Vocab& v = impl.vocab;
  auto fill = [&impl](std::int32_t& id, std::string_view text) {
    if (id < 0) id = impl.find(text);
  };
  if (v.kind == TokenizerKind::kSentencePiece) {
    fill(v.bos, "<s>");
    fill(v.eos, "</s>");
    fill(v.unk, "<unk>");
  } else if (v.kind == TokenizerKind::kWordPiece) {
    fill(v.cls, "[CLS]");
    fill(v.sep, "[SEP]");
    fill(v.unk, "[UNK]");
    fill(v.pad, "[PAD]");
    fill(v.mask, "[MASK]");
    if (v.bos < 0) v.bos = v.cls;
  }
  if (v.eot < 0) {
    for (const std::string_view text : kEogTexts) {
      const std::int32_t id = impl.find(text);
      if (id >= 0 && is_special_type(impl.types[static_cast<std::size_t>(id)]) && text != "<|endoftext|>") {
        v.eot = id;
        break;
      }
    }
  }
}

void configure_flags(Tokenizer::Impl& impl, const TokenizerOptions& options) {
  const Vocab& v = impl.vocab;
  switch (v.kind) {
    case TokenizerKind::kSentencePiece:
      impl.add_bos = v.add_bos.value_or(true);
      impl.add_eos = v.add_eos.value_or(false);
      impl.add_space_prefix = v.add_space_prefix.value_or(true);
      impl.clean_spaces = false;
      break;
    case TokenizerKind::kWordPiece:
      impl.add_bos = true;  // [CLS] ... [SEP]
      impl.add_eos = true;
      impl.clean_spaces = true;
      break;
    case TokenizerKind::kBytePairEncoding: {
      const std::string name = options.force_pre_tokenizer.value_or(v.pre);
      impl.pre = with_context("tokenizer.ggml.pre", [&] { return parse_pre_tokenizer(name); });
      impl.ignore_merges = impl.pre == PreTokenizer::kLlama3;
      impl.add_bos = v.add_bos.value_or(impl.pre == PreTokenizer::kLlama3);
      impl.add_eos = v.add_eos.value_or(false);
      // llama.cpp keeps the spaces of these vocabularies as they are.
      // NOTE: no golden case tells clean-up on from off for gpt-2, falcon or llama-bpe
      // (the corpus has no space before punctuation), so those follow llama.cpp's loader.
      constexpr std::string_view kNoCleanup[] = {"deepseek-llm", "deepseek-coder", "qwen2",  "stablelm2",
                                                 "deepseek-r1-qwen", "smollm",       "command-r"};
      impl.clean_spaces = std::find(std::begin(kNoCleanup), std::end(kNoCleanup), name) == std::end(kNoCleanup);
      break;
    }
  }
}

// Phi-3 models strip whitespace after their special tokens (llama.cpp sets this
// by model name because the GGUF does not record it).
void configure_token_attributes(Tokenizer::Impl& impl) {
  const std::size_t n = impl.vocab.tokens.size();
  impl.lstrip.assign(n, false);
  impl.rstrip.assign(n, false);
  std::string name = impl.vocab.model_name;
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.find("phi-3") == std::string::npos && name.find("phi3") == std::string::npos) return;
  for (std::size_t id = 0; id < n; ++id) {
    if (is_special_type(impl.types[id])) impl.rstrip[id] = true;
  }
  for (const std::string_view text : {"<unk>", "<s>", "<|endoftext|>"}) {
    const std::int32_t id = impl.find(text);
    if (id >= 0) impl.rstrip[static_cast<std::size_t>(id)] = false;
  }
}

void build_special_lists(Tokenizer::Impl& impl) {
  for (std::size_t id = 0; id < impl.vocab.tokens.size(); ++id) {
    if (impl.vocab.tokens[id].empty() || !is_special_type(impl.types[id])) continue;
    impl.specials_all.push_back(static_cast<std::int32_t>(id));
    if (impl.types[id] == TokenType::kUserDefined) impl.specials_user.push_back(static_cast<std::int32_t>(id));
  }
  auto longer_first = [&impl](std::int32_t a, std::int32_t b) {
    return impl.vocab.tokens[static_cast<std::size_t>(a)].size() > impl.vocab.tokens[static_cast<std::size_t>(b)].size();
  };
  std::stable_sort(impl.specials_all.begin(), impl.specials_all.end(), longer_first);
  std::stable_sort(impl.specials_user.begin(), impl.specials_user.end(), longer_first);
}

void build_eog(Tokenizer::Impl& impl) {
  const Vocab& v = impl.vocab;
  impl.eog.assign(v.tokens.size(), false);
  for (const std::int32_t id : {v.eos, v.eot, v.eom}) {
    if (id >= 0) impl.eog[static_cast<std::size_t>(id)] = true;
  }
  for (const std::string_view text : kEogTexts) {
    const std::int32_t id = impl.find(text);
    if (id >= 0 && is_special_type(impl.types[static_cast<std::size_t>(id)])) impl.eog[static_cast<std::size_t>(id)] = true;
  }
}

// A piece of the input: raw text [begin, end) or one special token.
struct Fragment {
  std::int32_t token = -1;
  std::size_t begin = 0;
  std::size_t end = 0;
};

bool is_ascii_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Splits raw fragments at every occurrence of special token `id`, as llama.cpp
// does (tokens are applied longest first, so a longer token wins an overlap).
void split_at_token(const Tokenizer::Impl& impl, std::string_view text, std::int32_t id,
                    std::vector<Fragment>& fragments, std::vector<Fragment>& scratch) {
  const std::string& token = impl.vocab.tokens[static_cast<std::size_t>(id)];
  const bool lstrip = impl.lstrip[static_cast<std::size_t>(id)];
  const bool rstrip = impl.rstrip[static_cast<std::size_t>(id)];
  scratch.clear();
  for (const Fragment& fragment : fragments) {
    if (fragment.token >= 0) {
      scratch.push_back(fragment);
      continue;
    }
    std::size_t begin = fragment.begin;
    while (begin < fragment.end) {
      const std::size_t hit = text.substr(0, fragment.end).find(token, begin);
      if (hit == std::string_view::npos) {
        scratch.push_back({-1, begin, fragment.end});
        break;
      }
      std::size_t left_end = hit;
      while (lstrip && left_end > begin && is_ascii_space(text[left_end - 1])) --left_end;
      if (left_end > begin) scratch.push_back({-1, begin, left_end});
      scratch.push_back({id, 0, 0});
      begin = hit + token.size();
      while (rstrip && begin < fragment.end && is_ascii_space(text[begin])) ++begin;
    }
  }
  fragments.swap(scratch);
}

std::vector<Fragment> partition(const Tokenizer::Impl& impl, std::string_view text, bool parse_special) {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({-1, 0, text.size()});
  std::vector<Fragment> scratch;
  for (const std::int32_t id : parse_special ? impl.specials_all : impl.specials_user) {
    split_at_token(impl, text, id, fragments, scratch);
  }
  return fragments;
}

void encode_raw(const Tokenizer::Impl& impl, std::string_view raw, bool prefix_space, std::vector<std::int32_t>& out) {
  switch (impl.vocab.kind) {
    case TokenizerKind::kSentencePiece: {
      std::string text = prefix_space ? " " : "";
      text.append(raw);
      encode_spm(impl, replace_all(text, " ", kSpaceMarker), out);
      break;
    }
    case TokenizerKind::kBytePairEncoding:
      encode_bpe(impl, raw, out);
      break;
    case TokenizerKind::kWordPiece:
      encode_wordpiece(impl, raw, out);
      break;
  }
}

const Tokenizer::Impl& checked(const std::shared_ptr<const Tokenizer::Impl>& impl) {
  QRAG_CHECK(impl != nullptr, "use of a moved-from Tokenizer");
  return *impl;
}

}  // namespace

Tokenizer Tokenizer::from_vocab(Vocab vocab, const TokenizerOptions& options) {
  validate_vocab(vocab);
  auto impl = std::make_shared<Impl>();
  impl->vocab = std::move(vocab);
  const std::size_t n = impl->vocab.tokens.size();
  impl->types = impl->vocab.types.empty() ? std::vector<TokenType>(n, TokenType::kNormal) : impl->vocab.types;

  impl->token_to_id.reserve(n);
  for (std::size_t id = 0; id < n; ++id) {
    impl->token_to_id[impl->vocab.tokens[id]] = static_cast<std::int32_t>(id);
    impl->max_token_bytes = std::max(impl->max_token_bytes, impl->vocab.tokens[id].size());
  }

  apply_default_ids(*impl);
  configure_flags(*impl, options);
  configure_token_attributes(*impl);
  build_special_lists(*impl);
  build_eog(*impl);

  impl->pieces.reserve(n);
  for (std::size_t id = 0; id < n; ++id) impl->pieces.push_back(make_piece(*impl, id));

  impl->byte_tokens.fill(-1);
  if (impl->vocab.kind == TokenizerKind::kSentencePiece) {
    impl->spm_split_words =
        std::none_of(impl->vocab.tokens.begin(), impl->vocab.tokens.end(), has_inner_space_marker);
    for (int b = 0; b < 256; ++b) impl->byte_tokens[static_cast<std::size_t>(b)] = impl->find(fmt::format("<0x{:02X}>", b));
  }
  if (impl->vocab.kind == TokenizerKind::kBytePairEncoding) build_bpe_tables(*impl);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_gguf(const gguf::GgufFile& file, const TokenizerOptions& options) {
  Vocab vocab = read_vocab(file);
  return with_context("building the tokenizer of " + file.path().string(), [&] {
    Tokenizer tokenizer = from_vocab(std::move(vocab), options);
    const Impl& impl = *tokenizer.impl_;
    spdlog::debug("tokenizer: {} tokens, {}{}, add_bos {}, add_eos {}", impl.vocab.tokens.size(),
                  impl.vocab.kind == TokenizerKind::kSentencePiece ? "SentencePiece"
                  : impl.vocab.kind == TokenizerKind::kWordPiece   ? "WordPiece"
                                                                   : "byte-level BPE",
                  impl.vocab.kind == TokenizerKind::kBytePairEncoding
                      ? fmt::format(" (pre-tokenizer {})", pre_tokenizer_name(impl.pre))
                      : "",
                  impl.add_bos, impl.add_eos);
    return tokenizer;
  });
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Impl& impl = checked(impl_);
  const Vocab& v = impl.vocab;
  std::vector<std::int32_t> out;
  out.reserve(text.size() / 3 + 4);

  const bool is_wordpiece = v.kind == TokenizerKind::kWordPiece;
  if (add_special && impl.add_bos && v.bos >= 0) out.push_back(v.bos);

  // SentencePiece prefixes a space to the text and to text that follows a special token.
  bool prev_special = true;
  for (const Fragment& fragment : partition(impl, text, parse_special)) {
    if (fragment.token >= 0) {
      out.push_back(fragment.token);
      prev_special = true;
      continue;
    }
    const bool prefix = impl.add_space_prefix && prev_special;
    encode_raw(impl, text.substr(fragment.begin, fragment.end - fragment.begin), prefix, out);
    prev_special = false;
  }

  if (add_special && impl.add_eos) {
    const std::int32_t end_id = is_wordpiece ? v.sep : v.eos;
    if (end_id >= 0) out.push_back(end_id);
  }
  return out;
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids, bool with_special) const {
  const Impl& impl = checked(impl_);
  std::string text;
  bool remove_space = impl.add_space_prefix;
  for (const std::int32_t id : ids) {
    if (id < 0 || id >= n_vocab()) {
      throw Error(fmt::format("decode: token id {} is outside the vocabulary of {} tokens", id, n_vocab()));
    }
    const auto index = static_cast<std::size_t>(id);
    if (with_special || impl.types[index] != TokenType::kControl) {
      std::string_view piece = impl.pieces[index];
      if (remove_space && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
      text.append(piece);
    }
    remove_space = false;
  }
  if (impl.clean_spaces) clean_up_spaces(text);
  return text;
}

std::string Tokenizer::piece(std::int32_t id) const {
  const Impl& impl = checked(impl_);
  if (id < 0 || id >= n_vocab()) {
    throw Error(fmt::format("token id {} is outside the vocabulary of {} tokens", id, n_vocab()));
  }
  return impl.pieces[static_cast<std::size_t>(id)];
}

const std::string& Tokenizer::token_text(std::int32_t id) const {
  const Impl& impl = checked(impl_);
  if (id < 0 || id >= n_vocab()) {
    throw Error(fmt::format("token id {} is outside the vocabulary of {} tokens", id, n_vocab()));
  }
  return impl.vocab.tokens[static_cast<std::size_t>(id)];
}

TokenType Tokenizer::token_type(std::int32_t id) const {
  token_text(id);  // range check
  return impl_->types[static_cast<std::size_t>(id)];
}

std::optional<std::int32_t> Tokenizer::find_token(std::string_view text) const {
  const std::int32_t id = checked(impl_).find(text);
  if (id < 0) return std::nullopt;
  return id;
}

std::size_t Tokenizer::count_tokens(std::string_view text) const { return encode(text, false, false).size(); }

std::int32_t Tokenizer::n_vocab() const { return static_cast<std::int32_t>(checked(impl_).vocab.tokens.size()); }
TokenizerKind Tokenizer::kind() const { return checked(impl_).vocab.kind; }
PreTokenizer Tokenizer::pre_tokenizer() const { return checked(impl_).pre; }
std::int32_t Tokenizer::bos() const { return checked(impl_).vocab.bos; }
std::int32_t Tokenizer::eos() const { return checked(impl_).vocab.eos; }
std::int32_t Tokenizer::eot() const { return checked(impl_).vocab.eot; }
std::int32_t Tokenizer::unk() const { return checked(impl_).vocab.unk; }
std::int32_t Tokenizer::pad() const { return checked(impl_).vocab.pad; }
std::int32_t Tokenizer::sep() const { return checked(impl_).vocab.sep; }
std::int32_t Tokenizer::cls() const { return checked(impl_).vocab.cls; }
bool Tokenizer::add_bos() const { return checked(impl_).add_bos; }
bool Tokenizer::add_eos() const { return checked(impl_).add_eos; }

bool Tokenizer::is_eog(std::int32_t id) const {
  const Impl& impl = checked(impl_);
  return id >= 0 && id < n_vocab() && impl.eog[static_cast<std::size_t>(id)];
}

bool Tokenizer::is_control(std::int32_t id) const {
  const Impl& impl = checked(impl_);
  return id >= 0 && id < n_vocab() && impl.types[static_cast<std::size_t>(id)] == TokenType::kControl;
}

void clean_up_spaces(std::string& text) {
  // Pass 1: " ?", " !", " .", " ," lose their space.
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i > 0 && text[i - 1] == ' ' && (c == '?' || c == '!' || c == '.' || c == ',') && !out.empty()) out.pop_back();
    out.push_back(c);
  }

  // Pass 2: a lone apostrophe " ' " loses both spaces.
  text.swap(out);
  out.clear();
  std::size_t skipped = std::string::npos;  // a dropped space no longer counts as a space
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool space_before = i > 0 && text[i - 1] == ' ' && skipped != i - 1;
    if (c == '\'' && i + 1 < text.size() && space_before && text[i + 1] == ' ') {
      if (!out.empty()) out.pop_back();
      out.push_back(c);
      skipped = ++i;  // drop the space after it
      continue;
    }
    out.push_back(c);
  }

  // Pass 3: " 's", " 'm", " 're", " 've" lose their space (" 't", " 'd", " 'll" keep it).
  text.swap(out);
  out.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i > 0 && text[i - 1] == ' ' && c == '\'' && i + 1 < text.size()) {
      const char c1 = text[i + 1];
      const char c2 = i + 2 < text.size() ? text[i + 2] : '\0';
      const bool joins = c1 == 's' || c1 == 'm' || (c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e');
      if (joins && !out.empty()) out.pop_back();
    }
    out.push_back(c);
  }
  text.swap(out);
}

Detokenizer::Detokenizer(const Tokenizer& tokenizer, bool with_special)
    : tokenizer_(&tokenizer), with_special_(with_special) {}

std::string Detokenizer::push(std::int32_t id) {
  if (with_special_ || !tokenizer_->is_control(id)) pending_ += tokenizer_->piece(id);
  const std::size_t complete = complete_utf8_prefix(pending_);
  std::string out = sanitize_utf8(std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return out;
}

std::string Detokenizer::finish() {
  std::string out = sanitize_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace qrag::tokenizer
