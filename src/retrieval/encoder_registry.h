// Named GGUF encoders for dense retrievers: resolves `dense:NAME` or `dense:PATH` and loads each model once.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "engine/embedder.h"
#include "retrieval/embedding_cache.h"
#include "retrieval/encoder.h"
#include "retrieval/retriever.h"

namespace qrag::retrieval {

// Splits an encoder binding "NAME=PATH" at the first '='. Throws qrag::Error naming the
// binding when the '=' is missing or the name or the path is empty.
std::pair<std::string, std::filesystem::path> parse_encoder_binding(std::string_view binding);

struct EncoderRegistryOptions {
  // Threads of the one pool that every encoder of the registry runs on (>= 1).
  int threads = 1;
  // Pooling, normalisation and truncation, applied to every encoder the registry loads.
  engine::EmbedderOptions embedder;
};

// Maps the model names of dense specs to GGUF BERT encoders (EmbedderEncoder). A model
// string is looked up among the registered names first, and otherwise taken as a file
// path. Each file is loaded and hashed once, on first use, and the same Encoder is
// returned for every later request of that file, under any name.
//
// Thread safety: load() and context() may be called from several threads. All encoders
// share one thread pool, so one mutex serialises their embed() calls. Retrievers built
// from one registry may therefore rank from different threads at once.
// Ownership: the registry, its encoders and the contexts it returns share their state
// through shared_ptr, so retrievers may outlive the registry object.
class EncoderRegistry {
 public:
  // `names` maps short names to GGUF files. Throws qrag::Error when options.threads < 1
  // or a name is empty.
  explicit EncoderRegistry(std::map<std::string, std::filesystem::path> names, EncoderRegistryOptions options = {});

  // The file for `model`: the path registered under that name, else `model` itself when
  // that file exists. Throws qrag::Error listing the registered names otherwise.
  std::filesystem::path resolve(const std::string& model) const;

  // The encoder for `model` (see resolve()), loaded on first use. Throws qrag::Error
  // naming the file when the model cannot be loaded.
  std::shared_ptr<Encoder> load(const std::string& model);

  // A factory context whose load_encoder calls load(), with `cache` (may be null) shared
  // by every dense retriever built from it.
  RetrieverContext context(std::shared_ptr<EmbeddingCache> cache = nullptr) const;

  // Texts sent to the encoders so far (cache hits are not counted).
  std::size_t n_embedded() const;
  // Files loaded so far.
  std::size_t n_loaded() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace qrag::retrieval
