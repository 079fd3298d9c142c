// Importance matrix: per weight tensor, the mean squared activation entering each column; its collection and GGUF file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/kernels.h"
#include "model/matmul_observer.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace qrag::engine {

// An importance matrix as `qrag imatrix` writes it and `qrag quantize --imatrix` reads it.
//
// File format: a GGUF v3 file with metadata
//   general.type         string  "imatrix"
//   qrag.imatrix.dataset string  the calibration text's name (free-form, may be empty)
//   qrag.imatrix.n_tokens uint64 tokens evaluated over the whole run
//   qrag.imatrix.counts  uint64[] activation rows averaged per tensor, in tensor order
// and one F32 1-D tensor per weight matrix, named exactly as the weight in the
// model ("blk.0.attn_q.weight"), of length n_cols (the weight's row length).
// Element j is mean over rows r of x[r][j]^2, where x [rows][n_cols] are the
// activations multiplied with that weight. Values are finite and >= 0.
struct Imatrix {
  std::string dataset;
  std::uint64_t n_tokens = 0;
  std::map<std::string, std::vector<float>, std::less<>> values;  // weight name -> [n_cols]
  std::map<std::string, std::uint64_t, std::less<>> counts;       // weight name -> rows averaged

  // Reads and validates a file. Throws qrag::Error naming the file and the key
  // or tensor at fault (wrong general.type, a tensor that is not F32 1-D, a
  // negative or non-finite value, a counts array of the wrong length).
  static Imatrix load(const std::filesystem::path& path);
  // Writes the file atomically (a failed write leaves no partial file).
  void save(const std::filesystem::path& path) const;

  // The entry of a weight tensor, or null when the matrix has none.
  const std::vector<float>* find(std::string_view weight_name) const;
};

// Accumulates sums of squared activations per column in double precision and
// turns them into an Imatrix. Not thread-safe: call observe() from one thread.
class ImatrixCollector final : public model::MatmulObserver {
 public:
  // Adds x [n_rows][n_cols]. Throws qrag::Error when a tensor seen before
  // arrives with another n_cols, or x contains NaN or Inf (naming the tensor).
  void observe(std::string_view weight_name, const float* x, std::int64_t n_rows, std::int64_t n_cols) override;
  // Counts tokens evaluated (for the file's metadata).
  void add_tokens(std::uint64_t n) { n_tokens_ += n; }

  std::size_t n_tensors() const { return sums_.size(); }
  // The means so far; tensors never observed have no entry.
  Imatrix result(std::string dataset) const;

 private:
  struct Sums {
    std::vector<double> sum_sq;  // [n_cols]
    std::uint64_t n_rows = 0;
  };
  std::map<std::string, Sums, std::less<>> sums_;
  std::uint64_t n_tokens_ = 0;
};

struct ImatrixOptions {
  std::int64_t n_ctx = 512;    // tokens per chunk (BOS included), each chunk from an empty KV cache
  std::int64_t n_chunks = 0;   // chunks to evaluate from the start of the text; 0: all
  std::int64_t n_batch = 128;  // tokens per forward pass (bounds the logits buffer: n_batch * n_vocab floats)
};

// Tokenizes `text`, cuts it into chunks of n_ctx tokens and runs `model` over
// each chunk, feeding every weight matmul's input to an ImatrixCollector. When
// the vocabulary requests BOS, each chunk starts with BOS followed by n_ctx - 1
// text tokens, so every chunk looks like the start of a prompt. Logits are
// computed for every token, so the output matrix receives every row. The last chunk
// may be shorter. Logs progress per chunk. Throws qrag::Error when n_ctx < 2,
// n_chunks < 0 or the text has no tokens. Borrows everything.
Imatrix collect_imatrix(const model::Model& model, const tokenizer::Tokenizer& tokenizer, std::string_view text,
                        const ImatrixOptions& options, kernels::KernelContext& kernels, std::string dataset);

}  // namespace qrag::engine
