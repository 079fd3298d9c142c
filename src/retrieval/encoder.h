// Encoder interface for dense retrieval and the row-major embedding matrix it returns.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace qrag::retrieval {

// Embeddings of n texts: `values` has shape [rows][dim], row-major, float32.
struct EmbeddingMatrix {
  std::size_t rows = 0;
  std::size_t dim = 0;
  std::vector<float> values;  // [rows * dim]

  std::span<const float> row(std::size_t i) const { return {values.data() + i * dim, dim}; }
  std::span<float> row(std::size_t i) { return {values.data() + i * dim, dim}; }
};

// A text encoder (e.g. a BERT model with its pooling). Implementations live in
// src/engine or in tests. embed() may keep scratch state, so one instance must not be
// called from two threads at once unless the implementation states otherwise.
class Encoder {
 public:
  virtual ~Encoder() = default;

  // Embeds each text with the model's own pooling (and normalisation, if the model
  // defines one). Returns a matrix with rows == texts.size() and dim == dim().
  virtual EmbeddingMatrix embed(std::span<const std::string> texts) = 0;

  // A stable identity of the weights, e.g. the hex hash of the model file; it keys the
  // embedding cache, so two different models must never share it.
  virtual std::string model_id() const = 0;

  virtual std::size_t dim() const = 0;
};

}  // namespace qrag::retrieval
