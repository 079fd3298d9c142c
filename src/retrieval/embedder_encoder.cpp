// EmbedderEncoder: adapts engine::Embedder to the retrieval layer's Encoder interface.
#include "retrieval/embedder_encoder.h"

#include <fmt/format.h>
#include <xxhash.h>

#include "core/mapped_file.h"

namespace qrag::retrieval {

EmbedderEncoder::EmbedderEncoder(const std::filesystem::path& model_path, core::ThreadPool& pool,
                                 engine::EmbedderOptions options)
    : embedder_(std::make_unique<engine::Embedder>(model_path, pool, options)) {
  const core::MappedFile file = core::MappedFile::open(model_path);
  const XXH128_hash_t hash = XXH3_128bits(file.bytes().data(), file.bytes().size());
  model_id_ = fmt::format("bert-{:016x}{:016x}-pool{}{}", hash.high64, hash.low64,
                          static_cast<unsigned>(embedder_->pooling()), options.normalize ? "" : "-raw");
}

EmbeddingMatrix EmbedderEncoder::embed(std::span<const std::string> texts) {
  EmbeddingMatrix m;
  m.rows = texts.size();
  m.dim = embedder_->dim();
  m.values = embedder_->embed(texts);
  return m;
}

}  // namespace qrag::retrieval
