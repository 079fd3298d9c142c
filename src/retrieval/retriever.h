// Public retrieval API: documents, rankings, the Retriever interface and the spec-string factory.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qrag::retrieval {

class Encoder;
class EmbeddingCache;

// One profile item. A profile is a span of documents; a document's position in it
// (its index) is the tie-break order and the value reported in Ranked::index.
struct Document {
  std::string id;
  std::string text;
  // "YYYY", "YYYY-MM" or "YYYY-MM-DD" (any dash-separated integers, compared field by
  // field); only the recency retriever reads it.
  std::optional<std::string> date;
};

// One ranked document: its index in the profile and the retriever's score (higher is better).
struct Ranked {
  std::size_t index = 0;
  double score = 0.0;
};

// A ranking plus what the retriever had to adjust, so a grid can report it instead of failing.
struct RankResult {
  // Best first; size min(requested_k, n_documents). Ties keep profile order. Only the
  // `random?lamp-compat` retriever may list an index twice (sampling with replacement).
  std::vector<Ranked> ranking;
  std::size_t requested_k = 0;
  std::size_t n_documents = 0;
  // Documents whose text yields no terms (lexical retrievers) or is empty (others).
  std::size_t n_empty_documents = 0;
  // The query yields no terms (lexical) or is empty (dense); every score is then equal.
  bool empty_query = false;

  bool k_clipped() const { return requested_k > n_documents; }
  bool empty_profile() const { return n_documents == 0; }
};

// Ranks a profile for one query. An empty profile, empty texts or k > profile size give a
// normal result (k is clipped and reported). Invalid data, such as an unparsable date or an
// encoder returning the wrong shape, throws qrag::Error.
// Thread safety: some retrievers keep scratch buffers or an encoder, so one instance must
// not run rank() from two threads at once. Create one instance per thread.
class Retriever {
 public:
  virtual ~Retriever() = default;

  virtual RankResult rank(std::string_view query, std::span<const Document> docs, std::size_t k) = 0;

  // The canonical spec with every parameter spelled out, e.g.
  // "bm25:okapi?analyzer=whitespace&k1=1.5&b=0.75&epsilon=0.25"; usable as a run tag.
  virtual std::string spec() const = 0;
};

// Caller-supplied dependencies of the factory, needed for dense retrievers.
struct RetrieverContext {
  // Loads the encoder named by a dense spec (a model path or a name the caller defines).
  // Left empty, dense specs are rejected with a qrag::Error.
  std::function<std::shared_ptr<Encoder>(const std::string& model)> load_encoder;
  // Shared embedding cache (optional). Shared by all dense retrievers built with this context.
  std::shared_ptr<EmbeddingCache> cache;
};

// Builds a retriever from a spec string. Grammar (documented in docs/retrieval.md):
//   spec    := family [":" variant] ["?" options]
//   options := key "=" value ("&" key "=" value)*        (values are percent-decoded)
//   family  := bm25 | recency | random | dense | hybrid
//   hybrid  := "hybrid:" ("rrf" | "weighted") "(" spec ("," spec)* ")" ["?" options]
// Examples: "bm25:okapi", "bm25:lucene?k1=0.9&b=0.4", "bm25:okapi?analyzer=english",
// "recency", "random?seed=7", "random?seed=7&lamp-compat=1",
// "dense:models/minilm.gguf?similarity=cosine&query_prefix=query:%20",
// "hybrid:rrf(bm25:okapi,dense:models/minilm.gguf)",
// "hybrid:weighted(bm25:okapi,recency)?weights=0.7,0.3".
// Throws qrag::Error naming the spec, the key or value, and the accepted values.
std::unique_ptr<Retriever> make_retriever(std::string_view spec, const RetrieverContext& context = {});

// Escapes the characters that delimit specs (space, % & ? = , ( ) and control bytes) as %XX,
// so a model path or prefix can be embedded in a spec; make_retriever decodes them.
std::string percent_encode(std::string_view text);

// Selects the best k of `scores` (higher first, ties by lower index) as a ranking.
// Shared by all score-based retrievers. NaN scores are rejected with qrag::Error.
std::vector<Ranked> top_k(std::span<const double> scores, std::size_t k);

}  // namespace qrag::retrieval
