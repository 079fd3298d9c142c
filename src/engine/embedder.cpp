// Embedder: WordPiece tokenization, packed batched BERT encoding, pooling and L2 normalisation.
#include "engine/embedder.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"

namespace qrag::engine {

Embedder::Embedder(const std::filesystem::path& model_path, core::ThreadPool& pool, EmbedderOptions options)
    : file_(gguf::GgufFile::open(model_path)),
      model_(model::BertModel::load(file_)),
      tokenizer_(tokenizer::Tokenizer::from_gguf(file_)),
      ctx_(pool),
      options_(options),
      pooling_(options.pooling.value_or(model_.hparams().pooling)),
      max_tokens_(options.max_tokens > 0 ? std::min(options.max_tokens, model_.hparams().n_ctx)
                                         : model_.hparams().n_ctx) {
  if (tokenizer_.kind() != tokenizer::TokenizerKind::kWordPiece) {
    throw Error(fmt::format("{}: tokenizer.ggml.model is not 'bert' (WordPiece)", model_path.string()));
  }
  if (max_tokens_ < 2) throw Error(fmt::format("max tokens {} leaves no room for [CLS] and [SEP]", max_tokens_));
  const auto& hp = model_.hparams();
  spdlog::info("embedder: {} (bert, {} layers, n_embd {}, {} threads, max {} tokens, pooling {})",
               model_path.string(), hp.n_layer, hp.n_embd, pool.size(), max_tokens_,
               static_cast<unsigned>(pooling_));
}

std::vector<std::int32_t> Embedder::tokenize(const std::string& text) const {
  std::vector<std::int32_t> ids = tokenizer_.encode(text, /*add_special=*/true, /*parse_special=*/false);
  if (static_cast<std::int64_t>(ids.size()) > max_tokens_) {
    const std::int32_t sep = ids.back();  // keep the closing [SEP], as BERT tokenizers truncate
    ids.resize(static_cast<std::size_t>(max_tokens_ - 1));
    ids.push_back(sep);
  }
  return ids;
}

std::vector<float> Embedder::embed(std::span<const std::string> texts) {
  const std::size_t d = dim();
  std::vector<float> out(texts.size() * d);  // [n_texts][dim]
  std::size_t first = 0;
  while (first < texts.size()) {
    // Collect texts until the batch would exceed batch_tokens (always at least one).
    std::vector<std::vector<std::int32_t>> batch;
    std::int64_t n_tokens = 0;
    std::size_t last = first;
    for (; last < texts.size(); ++last) {
      std::vector<std::int32_t> ids = tokenize(texts[last]);
      if (!batch.empty() && n_tokens + static_cast<std::int64_t>(ids.size()) > options_.batch_tokens) break;
      n_tokens += static_cast<std::int64_t>(ids.size());
      batch.push_back(std::move(ids));
    }
    const std::vector<float> pooled = model_.encode(ctx_, batch, pooling_);  // [batch][dim]
    std::copy(pooled.begin(), pooled.end(), out.begin() + static_cast<std::ptrdiff_t>(first * d));
    first = last;
  }
  if (options_.normalize) {
    for (std::size_t r = 0; r < texts.size(); ++r) {
      float* row = out.data() + r * d;
      double sum = 0;
      for (std::size_t i = 0; i < d; ++i) sum += static_cast<double>(row[i]) * row[i];
      const float inv = sum > 0 ? static_cast<float>(1.0 / std::sqrt(sum)) : 0.0f;
      for (std::size_t i = 0; i < d; ++i) row[i] *= inv;
    }
  }
  return out;
}

}  // namespace qrag::engine
