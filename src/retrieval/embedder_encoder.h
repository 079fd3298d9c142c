// retrieval::Encoder backed by engine::Embedder (a GGUF BERT encoder), keyed by a hash of the model file.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "engine/embedder.h"
#include "retrieval/encoder.h"

namespace qrag::retrieval {

// Owns its Embedder; borrows `pool`, which must outlive it. Not thread-safe
// (one embed() at a time), like the Embedder it wraps.
class EmbedderEncoder final : public Encoder {
 public:
  // Loads the model and hashes its file (XXH3-128 over all bytes) for model_id().
  EmbedderEncoder(const std::filesystem::path& model_path, core::ThreadPool& pool,
                  engine::EmbedderOptions options = {});

  EmbeddingMatrix embed(std::span<const std::string> texts) override;
  // "bert-<32 hex digits>-pool<id>", with "-raw" appended when not normalised:
  // pooling and normalisation change the vectors, so they are part of the key.
  std::string model_id() const override { return model_id_; }
  std::size_t dim() const override { return embedder_->dim(); }

 private:
  std::unique_ptr<engine::Embedder> embedder_;
  std::string model_id_;
};

}  // namespace qrag::retrieval
