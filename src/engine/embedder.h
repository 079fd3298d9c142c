// Sentence embeddings from a GGUF BERT encoder: tokenize, encode in packed batches, pool, normalise.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "gguf/gguf_file.h"
#include "kernels/kernels.h"
#include "model/bert.h"
#include "tokenizer/tokenizer.h"

namespace qrag::engine {

struct EmbedderOptions {
  std::optional<model::BertPooling> pooling;  // overrides bert.pooling_type
  bool normalize = true;                      // L2-normalise each embedding
  // Max tokens per text including [CLS] and [SEP]; longer texts are truncated.
  // 0 means bert.context_length.
  std::int64_t max_tokens = 0;
  // Tokens encoded per forward pass; bounds activation memory
  // (about batch_tokens * (4 * n_embd + n_ff) floats).
  std::int64_t batch_tokens = 4096;
};

// Loads a GGUF BERT encoder and embeds texts. Borrows `pool`, which must outlive
// the Embedder. embed() uses one KernelContext, so one Embedder must not be used
// from two threads at once.
class Embedder {
 public:
  // Throws qrag::Error naming the file, key or tensor when the model is unusable.
  Embedder(const std::filesystem::path& model_path, core::ThreadPool& pool, EmbedderOptions options = {});

  // Embeddings of `texts`, [texts.size()][dim()] row-major.
  std::vector<float> embed(std::span<const std::string> texts);

  // Token ids fed to the encoder for `text` ([CLS] ... [SEP], truncated).
  std::vector<std::int32_t> tokenize(const std::string& text) const;

  std::size_t dim() const { return static_cast<std::size_t>(model_.hparams().n_embd); }
  model::BertPooling pooling() const { return pooling_; }
  const std::filesystem::path& model_path() const { return file_.path(); }

 private:
  gguf::GgufFile file_;
  model::BertModel model_;
  tokenizer::Tokenizer tokenizer_;
  kernels::KernelContext ctx_;
  EmbedderOptions options_;
  model::BertPooling pooling_;
  std::int64_t max_tokens_;
};

}  // namespace qrag::engine
