// Internal state of a Tokenizer and the per-algorithm encoders (not part of the public API).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace qrag::tokenizer {

// Hash that lets unordered_map<std::string, ...> be searched with a string_view.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};
using TokenMap = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

// One BPE merge: the pair (left id, right id) becomes `result` with priority `rank`
// (lower merges first).
struct MergeEntry {
  std::int32_t rank = 0;
  std::int32_t result = 0;
};

// Word -> token ids cache shared by all copies of a Tokenizer, so frequent words
// are encoded once. Thread-safe: 16 independently locked shards. Each shard stops
// accepting words once full, which bounds memory (about 16 x 8192 short words).
class WordCache {
 public:
  // Appends the cached ids of `word` to `out`; false when the word is not cached.
  bool lookup(std::string_view word, std::vector<std::int32_t>& out) const;
  void insert(std::string_view word, const std::int32_t* ids, std::size_t n_ids) const;

  static constexpr std::size_t kMaxWordBytes = 48;

 private:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kMaxEntriesPerShard = 8192;
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<std::int32_t>, StringHash, std::equal_to<>> words;
  };
  mutable std::array<Shard, kShards> shards_;
};

struct Tokenizer::Impl {
  Vocab vocab;
  std::vector<TokenType> types;  // one per token
  std::vector<std::string> pieces;  // decoded text of each token, special tokens as their text
  std::vector<bool> lstrip;  // strip whitespace left of this special token when matching it
  std::vector<bool> rstrip;  // ... and right of it
  std::vector<bool> eog;
  TokenMap token_to_id;
  std::size_t max_token_bytes = 0;

  // Special-token matching, longest text first: all control, user-defined and
  // unknown tokens (parse_special=true), or only user-defined ones.
  std::vector<std::int32_t> specials_all;
  std::vector<std::int32_t> specials_user;

  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // SPM: prefix the text (and text after a special token) with a space
  bool clean_spaces = false;      // decode: remove spaces before punctuation, as HF clean_up_tokenization_spaces

  // SPM: the <0xNN> token of each byte, -1 when the vocabulary lacks it.
  std::array<std::int32_t, 256> byte_tokens{};
  // SPM: true when no token has U+2581 after another character, so no merge can
  // cross the start of a word and words can be encoded (and cached) separately.
  bool spm_split_words = false;

  WordCache word_cache;

  // BPE.
  PreTokenizer pre = PreTokenizer::kDefault;
  bool ignore_merges = false;  // a word that is itself a token is emitted whole (Llama 3)
  std::array<std::int32_t, 256> bpe_byte_tokens{};  // token of each byte's byte-level symbol
  std::unordered_map<std::uint64_t, MergeEntry> merges;

  std::int32_t find(std::string_view text) const {
    const auto it = token_to_id.find(text);
    return it == token_to_id.end() ? -1 : it->second;
  }
};

// Encoders of one run of raw text (no special tokens inside), appending to `out`.
// SPM expects the text already escaped (spaces as U+2581, prefix added).
void encode_spm(const Tokenizer::Impl& impl, std::string_view escaped, std::vector<std::int32_t>& out);
void encode_bpe(const Tokenizer::Impl& impl, std::string_view text, std::vector<std::int32_t>& out);
void encode_wordpiece(const Tokenizer::Impl& impl, std::string_view text, std::vector<std::int32_t>& out);

// Builds the BPE tables (merges, byte symbols) of `impl`; throws qrag::Error on a
// merge that names an unknown token.
void build_bpe_tables(Tokenizer::Impl& impl);

// Applies the clean-up of llama.cpp's detokenizer to `text` in place: drops the
// space before ? ! . , and around a lone apostrophe, and before 's 'm 're 've.
void clean_up_spaces(std::string& text);

}  // namespace qrag::tokenizer
