// SentencePiece (BPE variant) encoding: merge the adjacent pair whose merged text is
// the highest-scoring token, until no pair forms a token; bytes of leftover symbols
// become <0xNN> tokens.
#include <queue>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace qrag::tokenizer {
namespace {

// A symbol is a byte range of the text. A symbol merged into its left neighbour has n = 0.
struct Symbol {
  std::int32_t prev = -1;
  std::int32_t next = -1;
  std::uint32_t start = 0;
  std::uint32_t n = 0;
};

struct Bigram {
  float score = 0;
  std::int32_t left = 0;
  std::int32_t right = 0;
  std::uint32_t size = 0;  // bytes of the merged text when the bigram was queued
};

// Highest score first, and among equal scores the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

using BigramQueue = std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder>;

void try_add_bigram(const Tokenizer::Impl& impl, std::string_view text, const std::vector<Symbol>& symbols,
                    std::int32_t left, std::int32_t right, BigramQueue& queue) {
  if (left < 0 || right < 0) return;
  const Symbol& l = symbols[static_cast<std::size_t>(left)];
  const Symbol& r = symbols[static_cast<std::size_t>(right)];
  const std::int32_t id = impl.find(text.substr(l.start, l.n + r.n));
  if (id < 0) return;
  const float score = impl.vocab.scores.empty() ? 0.0f : impl.vocab.scores[static_cast<std::size_t>(id)];
  queue.push(Bigram{score, left, right, l.n + r.n});
}

void emit_symbol(const Tokenizer::Impl& impl, std::string_view piece, std::vector<std::int32_t>& out) {
  const std::int32_t id = impl.find(piece);
  if (id >= 0) {
    out.push_back(id);
    return;
  }
  for (const char c : piece) {
    const std::int32_t byte_id = impl.byte_tokens[static_cast<unsigned char>(c)];
    if (byte_id >= 0) {
      out.push_back(byte_id);
    } else if (impl.vocab.unk >= 0) {
      out.push_back(impl.vocab.unk);
    }
  }
}

void encode_segment(const Tokenizer::Impl& impl, std::string_view text, std::vector<std::int32_t>& out) {

  // One symbol per UTF-8 character, and one per invalid byte.
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  std::size_t offset = 0;
  while (offset < text.size()) {
    char32_t cp = 0;
    const std::size_t n = decode_one(text, offset, cp);
    Symbol symbol;
    symbol.start = static_cast<std::uint32_t>(offset);
    symbol.n = static_cast<std::uint32_t>(n);
    symbol.prev = static_cast<std::int32_t>(symbols.size()) - 1;
    offset += n;
    symbol.next = offset == text.size() ? -1 : static_cast<std::int32_t>(symbols.size()) + 1;
    symbols.push_back(symbol);
  }

  BigramQueue queue;
  for (std::size_t i = 1; i < symbols.size(); ++i) {
    try_add_bigram(impl, text, symbols, static_cast<std::int32_t>(i - 1), static_cast<std::int32_t>(i), queue);
  }

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<std::size_t>(bigram.left)];
    Symbol& right = symbols[static_cast<std::size_t>(bigram.right)];
    // Skip bigrams made stale by an earlier merge of either side.
    if (left.n == 0 || right.n == 0 || left.n + right.n != bigram.size || left.next != bigram.right) continue;

    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = bigram.left;

    try_add_bigram(impl, text, symbols, left.prev, bigram.left, queue);
    try_add_bigram(impl, text, symbols, bigram.left, left.next, queue);
  }

  for (std::int32_t i = 0; i != -1; i = symbols[static_cast<std::size_t>(i)].next) {
    const Symbol& symbol = symbols[static_cast<std::size_t>(i)];
    emit_symbol(impl, text.substr(symbol.start, symbol.n), out);
  }
}

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581

// End of the word starting at `begin`: the next U+2581 that follows another character.
std::size_t word_end(std::string_view text, std::size_t begin) {
  std::size_t pos = begin;
  while (text.substr(pos, kSpaceMarker.size()) == kSpaceMarker) pos += kSpaceMarker.size();
  const std::size_t next = text.find(kSpaceMarker, pos);
  return next == std::string_view::npos ? text.size() : next;
}

}  // namespace

void encode_spm(const Tokenizer::Impl& impl, std::string_view text, std::vector<std::int32_t>& out) {
  if (!impl.spm_split_words) {
    encode_segment(impl, text, out);
    return;
  }
  std::size_t begin = 0;
  while (begin < text.size()) {
    const std::size_t end = word_end(text, begin);
    const std::string_view word = text.substr(begin, end - begin);
    if (!impl.word_cache.lookup(word, out)) {
      const std::size_t first = out.size();
      encode_segment(impl, word, out);
      impl.word_cache.insert(word, out.data() + first, out.size() - first);
    }
    begin = end;
  }
}

}  // namespace qrag::tokenizer
