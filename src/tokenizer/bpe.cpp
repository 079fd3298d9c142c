// Byte-level BPE encoding: pre-tokenize into words, map each byte of a word to its
// byte-level symbol, then apply the lowest-ranked merge until none applies.
#include <queue>
#include <string>

#include <fmt/core.h>

#include "core/error.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace qrag::tokenizer {
namespace {

std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}

struct Symbol {
  std::int32_t id = -1;  // token id, -1 for a byte without a token
  std::int32_t prev = -1;
  std::int32_t next = -1;
  std::uint8_t byte = 0;  // the original byte while the symbol is unmerged
  bool alive = true;
};

struct Candidate {
  std::int32_t rank = 0;
  std::int32_t left = 0;
  std::int32_t left_id = 0;
  std::int32_t right_id = 0;
};

// Lowest rank first, and among equal ranks the leftmost pair.
struct CandidateOrder {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

using CandidateQueue = std::priority_queue<Candidate, std::vector<Candidate>, CandidateOrder>;

void push_candidate(const Tokenizer::Impl& impl, const std::vector<Symbol>& symbols, std::int32_t left,
                    CandidateQueue& queue) {
  if (left < 0) return;
  const Symbol& l = symbols[static_cast<std::size_t>(left)];
  if (l.next < 0 || l.id < 0) return;
  const Symbol& r = symbols[static_cast<std::size_t>(l.next)];
  if (r.id < 0) return;
  const auto it = impl.merges.find(pair_key(l.id, r.id));
  if (it == impl.merges.end()) return;
  queue.push(Candidate{it->second.rank, left, l.id, r.id});
}

// Byte-level text of a word: each byte as its symbol's UTF-8.
std::string byte_level(std::string_view word) {
  std::string out;
  out.reserve(word.size() * 2);
  for (const char c : word) append_utf8(byte_to_codepoint()[static_cast<unsigned char>(c)], out);
  return out;
}

void encode_word(const Tokenizer::Impl& impl, std::string_view word, std::vector<Symbol>& symbols,
                 std::vector<std::int32_t>& out) {
  if (impl.ignore_merges) {
    const std::int32_t id = impl.find(byte_level(word));
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }

  symbols.clear();
  for (std::size_t i = 0; i < word.size(); ++i) {
    Symbol symbol;
    symbol.byte = static_cast<std::uint8_t>(word[i]);
    symbol.id = impl.bpe_byte_tokens[symbol.byte];
    symbol.prev = static_cast<std::int32_t>(i) - 1;
    symbol.next = i + 1 < word.size() ? static_cast<std::int32_t>(i + 1) : -1;
    symbols.push_back(symbol);
  }

  CandidateQueue queue;
  for (std::size_t i = 0; i + 1 < symbols.size(); ++i) push_candidate(impl, symbols, static_cast<std::int32_t>(i), queue);

  while (!queue.empty()) {
    const Candidate candidate = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<std::size_t>(candidate.left)];
    // Skip candidates made stale by an earlier merge of either side.
    if (!left.alive || left.id != candidate.left_id || left.next < 0) continue;
    Symbol& right = symbols[static_cast<std::size_t>(left.next)];
    if (right.id != candidate.right_id) continue;

    left.id = impl.merges.at(pair_key(candidate.left_id, candidate.right_id)).result;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = candidate.left;

    push_candidate(impl, symbols, left.prev, queue);
    push_candidate(impl, symbols, candidate.left, queue);
  }

  for (const Symbol& symbol : symbols) {
    if (!symbol.alive) continue;
    if (symbol.id >= 0) {
      out.push_back(symbol.id);
    } else if (impl.vocab.unk >= 0) {
      out.push_back(impl.vocab.unk);  // a byte the vocabulary cannot represent
    }
  }
}

}  // namespace

void encode_bpe(const Tokenizer::Impl& impl, std::string_view text, std::vector<std::int32_t>& out) {
  if (text.empty()) return;
  CodepointText cps;
  decode_utf8(text, cps);
  std::vector<CodepointRange> words;
  std::vector<CodepointRange> scratch;
  pre_tokenize(impl.pre, cps, words, scratch);

  std::vector<Symbol> symbols;
  for (const CodepointRange& range : words) {
    const std::size_t begin = cps.offsets[range.begin];
    const std::string_view word = text.substr(begin, cps.offsets[range.end] - begin);
    if (impl.word_cache.lookup(word, out)) continue;
    const std::size_t first = out.size();
    encode_word(impl, word, symbols, out);
    impl.word_cache.insert(word, out.data() + first, out.size() - first);
  }
}

void build_bpe_tables(Tokenizer::Impl& impl) {
  for (int b = 0; b < 256; ++b) {
    std::string symbol;
    append_utf8(byte_to_codepoint()[static_cast<std::size_t>(b)], symbol);
    impl.bpe_byte_tokens[static_cast<std::size_t>(b)] = impl.find(symbol);
  }

  impl.merges.reserve(impl.vocab.merges.size());
  for (std::size_t rank = 0; rank < impl.vocab.merges.size(); ++rank) {
    const std::string& merge = impl.vocab.merges[rank];
    // The separator is the first space after the first character, so a merge
    // whose left side is itself a space symbol still splits correctly.
    const std::size_t space = merge.find(' ', 1);
    if (space == std::string::npos) {
      throw Error(fmt::format("tokenizer.ggml.merges[{}]: invalid merge '{}': expected 'LEFT RIGHT'", rank, merge));
    }
    const std::string_view left(merge.data(), space);
    const std::string_view right(merge.data() + space + 1, merge.size() - space - 1);
    const std::int32_t left_id = impl.find(left);
    const std::int32_t right_id = impl.find(right);
    const std::int32_t result = impl.find(std::string(left) + std::string(right));
    if (left_id < 0 || right_id < 0 || result < 0) {
      throw Error(fmt::format("tokenizer.ggml.merges[{}]: merge '{}' uses or makes a token missing from "
                              "tokenizer.ggml.tokens; the vocabulary is inconsistent",
                              rank, merge));
    }
    impl.merges.emplace(pair_key(left_id, right_id), MergeEntry{static_cast<std::int32_t>(rank), result});
  }
}

}  // namespace qrag::tokenizer
