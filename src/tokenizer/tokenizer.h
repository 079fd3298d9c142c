// Text <-> token ids for GGUF vocabularies: SentencePiece, byte-level BPE and WordPiece.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qrag::gguf {
class GgufFile;
}

namespace qrag::tokenizer {

// The tokenizer algorithm, from `tokenizer.ggml.model`.
enum class TokenizerKind {
  kSentencePiece,  // "llama": score-driven merges with <0xNN> byte fallback
  kBytePairEncoding,  // "gpt2": byte-level BPE with ranked merges and a pre-tokenizer
  kWordPiece,      // "bert": BERT basic tokenization and greedy longest-match pieces
};

// Token types as stored in `tokenizer.ggml.token_type` (llama.cpp's numbering).
enum class TokenType : std::int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Pre-tokenizers of byte-level BPE vocabularies, selected by `tokenizer.ggml.pre`.
enum class PreTokenizer {
  kDefault,        // "default": punctuation runs, then the GPT-2 pattern, then digit runs
  kGpt2,           // "gpt-2", "phi-2", "mpt", "gpt-neox", "olmo"
  kLlama3,         // "llama-bpe", "llama3", "llama-v3", "falcon3"
  kQwen2,          // "qwen2", "stablelm2", "deepseek-r1-qwen"
  kFalcon,         // "falcon"
  kDeepseekLlm,    // "deepseek-llm"
  kDeepseekCoder,  // "deepseek-coder"
  kStarcoder,      // "starcoder", "refact", "smollm", "command-r": single digits, then GPT-2
};

// Parses a `tokenizer.ggml.pre` value. Throws qrag::Error that names the value and
// lists the known names when it is not supported.
PreTokenizer parse_pre_tokenizer(std::string_view name);
std::string_view pre_tokenizer_name(PreTokenizer pre);

// A vocabulary in plain form, as read from GGUF metadata or written by hand in tests.
// Ids are indices into `tokens`, and optional ids are -1 when absent.
struct Vocab {
  TokenizerKind kind = TokenizerKind::kSentencePiece;
  std::vector<std::string> tokens;       // stored token text (SPM and WPM use U+2581 for a space)
  std::vector<float> scores;             // SPM merge priorities (empty: all 0)
  std::vector<TokenType> types;          // empty means all kNormal
  std::vector<std::string> merges;       // BPE merges "left right", highest priority first
  std::string pre = "default";           // `tokenizer.ggml.pre`, BPE only
  std::string model_name;                // `general.name`, which selects per-model token attributes
  std::int32_t bos = -1;
  std::int32_t eos = -1;
  std::int32_t eot = -1;  // detected from the token text when absent (e.g. <|eot_id|>, <|im_end|>)
  std::int32_t eom = -1;
  std::int32_t unk = -1;
  std::int32_t pad = -1;
  std::int32_t sep = -1;
  std::int32_t cls = -1;
  std::int32_t mask = -1;
  std::optional<bool> add_bos;           // default: true for SPM and WPM, false for most BPE
  std::optional<bool> add_eos;           // default: false (WPM always appends [SEP])
  std::optional<bool> add_space_prefix;  // SPM only, default true
};

struct TokenizerOptions {
  // Overrides `tokenizer.ggml.pre` (e.g. "gpt-2"). Needed for vocabularies whose
  // pre-tokenizer name qrag does not know.
  std::optional<std::string> force_pre_tokenizer;
};

// Reads the `tokenizer.ggml.*` metadata of `file` into a Vocab. Throws qrag::Error
// naming the file and key when a required key is missing or inconsistent.
Vocab read_vocab(const gguf::GgufFile& file);

// An immutable tokenizer. Copies share the same tables and word cache, and every
// method is const and safe to call from several threads at once.
class Tokenizer {
 public:
  static Tokenizer from_gguf(const gguf::GgufFile& file, const TokenizerOptions& options = {});
  // Validates `vocab` (ids in range, merges made of known tokens...) and builds the
  // lookup tables. Throws qrag::Error on an inconsistent vocabulary.
  static Tokenizer from_vocab(Vocab vocab, const TokenizerOptions& options = {});

  // Encodes UTF-8 `text`. Invalid UTF-8 is never an error: SPM and BPE encode the
  // invalid bytes as byte tokens (so decode restores them), WordPiece drops them.
  // add_special adds BOS/EOS (or [CLS]/[SEP]) as the vocabulary's add_bos/add_eos
  // flags request. parse_special turns the text of control tokens (such as
  // "<|im_start|>") into those tokens. User-defined tokens are always matched, as
  // in llama.cpp.
  std::vector<std::int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // Decodes ids to text as llama.cpp's detokenizer does. with_special=false drops
  // control tokens. SPM removes the space prefix of the first token only (so
  // [BOS, "\u2581Hi"] decodes to " Hi"). WordPiece and most BPE vocabularies remove
  // spaces before punctuation. The output can contain invalid UTF-8 when `ids`
  // ends inside a multi-byte character.
  // Throws qrag::Error for an id outside [0, n_vocab()).
  std::string decode(std::span<const std::int32_t> ids, bool with_special) const;

  // The decoded text of one token with special tokens rendered (may be a partial
  // UTF-8 sequence for byte tokens). Throws qrag::Error for an id out of range.
  std::string piece(std::int32_t id) const;
  // The token text as stored in the vocabulary.
  const std::string& token_text(std::int32_t id) const;
  TokenType token_type(std::int32_t id) const;
  std::optional<std::int32_t> find_token(std::string_view text) const;

  // encode(text, false, false).size().
  std::size_t count_tokens(std::string_view text) const;

  std::int32_t n_vocab() const;
  TokenizerKind kind() const;
  PreTokenizer pre_tokenizer() const;  // meaningful for BPE only
  std::int32_t bos() const;  // -1 when the vocabulary has none
  std::int32_t eos() const;
  std::int32_t eot() const;
  std::int32_t unk() const;
  std::int32_t pad() const;
  std::int32_t sep() const;
  std::int32_t cls() const;
  bool add_bos() const;
  bool add_eos() const;
  // True for end-of-generation tokens: EOS, EOT, EOM and control tokens such as
  // <|im_end|>, <|eot_id|>, <|end|>, <end_of_turn>, <|end_of_turn|>, <|endoftext|>.
  bool is_eog(std::int32_t id) const;
  bool is_control(std::int32_t id) const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Streaming detokenizer for generation: push() returns only text made of complete
// UTF-8 characters, holding back the bytes of a character split across tokens.
// The concatenated output equals the concatenated piece() of the ids, with control
// tokens dropped unless with_special. Unlike decode(), it removes no SentencePiece
// space prefix and cleans up no spaces, as llama.cpp's per-token streaming of
// generated text does. Bytes that can never form valid UTF-8 become U+FFFD.
// Not thread-safe, and the tokenizer must outlive the detokenizer.
class Detokenizer {
 public:
  explicit Detokenizer(const Tokenizer& tokenizer, bool with_special = false);

  std::string push(std::int32_t id);
  // Returns the held-back bytes (each byte of an incomplete sequence as U+FFFD)
  // and resets the state for a new stream.
  std::string finish();

 private:
  const Tokenizer* tokenizer_;
  bool with_special_;
  std::string pending_;  // bytes of an incomplete UTF-8 character
};

}  // namespace qrag::tokenizer
