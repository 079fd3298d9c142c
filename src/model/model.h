// A loaded decoder model: hyper-parameters and weight views into its GGUF file.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "kernels/kernels.h"
#include "model/arch.h"
#include "model/hparams.h"

namespace qrag::model {

class TensorLoader;

// Weights of one transformer block (il). Matrices are [n_rows][n_cols] in the
// file's own types; norm and bias vectors are F32. Pointers an architecture
// does not use (see ArchSpec) are null.
struct LayerWeights {
  const float* attn_norm = nullptr;  // [n_embd]
  kernels::WeightView wq;            // [n_head*head_dim][n_embd]
  kernels::WeightView wk;            // [n_head_kv*head_dim][n_embd]
  kernels::WeightView wv;            // [n_head_kv*head_dim][n_embd]
  const float* bq = nullptr;         // [n_head*head_dim] attn_q.bias (qwen2)
  const float* bk = nullptr;         // [n_head_kv*head_dim] attn_k.bias (qwen2)
  const float* bv = nullptr;         // [n_head_kv*head_dim] attn_v.bias (qwen2)
  const float* attn_q_norm = nullptr;  // [head_dim], shared by all Q heads (gemma3)
  const float* attn_k_norm = nullptr;  // [head_dim], shared by all K heads (gemma3)
  kernels::WeightView wo;            // [n_embd][n_head*head_dim]
  const float* post_attention_norm = nullptr;  // [n_embd] (gemma3)
  const float* ffn_norm = nullptr;   // [n_embd]
  kernels::WeightView ffn_gate;      // [n_ff][n_embd]
  kernels::WeightView ffn_up;        // [n_ff][n_embd]
  kernels::WeightView ffn_down;      // [n_embd][n_ff]
  const float* post_ffw_norm = nullptr;  // [n_embd] (gemma3)
};

struct ModelWeights {
  kernels::WeightView token_embd;      // [n_vocab][n_embd], any dequantizable type
  const float* output_norm = nullptr;  // [n_embd]
  kernels::WeightView output;          // [n_vocab][n_embd]; token_embd when tied
  bool tied_output = false;            // true when output.weight is absent
  const float* rope_freqs = nullptr;   // [n_rot/2] frequency divisors (Llama 3), or null
  std::vector<LayerWeights> layers;    // [n_layer]
};

// Owns the mapped GGUF file; the weight views point into it, so a Model is
// neither copyable nor movable (hold it by unique_ptr). Immutable after load,
// hence safe to share between threads and between several decoders.
class Model {
 public:
  // Opens `path`, reads the hyper-parameters, checks every tensor's shape and
  // type, and logs tensors the architecture does not use. Throws qrag::Error
  // naming the file and the key or tensor at fault.
  // With `mode` kRead the file is copied into memory advised for huge pages
  // (core::MappedFile::Mode), which saves TLB misses while decoding.
  static std::unique_ptr<Model> load(const std::filesystem::path& path,
                                     core::MappedFile::Mode mode = core::MappedFile::Mode::kMmap);

  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const gguf::GgufFile& file() const { return file_; }
  const ArchSpec& arch() const { return *arch_; }
  const Hparams& hparams() const { return hparams_; }
  const ModelWeights& weights() const { return weights_; }

  // Writes the F32 embedding of `token` (checked against n_vocab), times
  // hparams().embd_scale, to out[n_embd].
  void embed(std::int32_t token, float* out) const;

  std::int64_t n_params() const { return n_params_; }          // elements over all tensors
  std::uint64_t weight_bytes() const { return weight_bytes_; }  // bytes of all tensor data
  double bits_per_weight() const;
  // Bytes of weights one decode step reads: every matrix once (token_embd only
  // when the output matrix is tied to it, since embedding lookups touch single rows).
  std::uint64_t bytes_read_per_step() const;

  // One line for start-up logs: file, architecture, shapes, parameters, size and bits per weight.
  std::string summary() const;

  // Names of file tensors the architecture did not use.
  const std::vector<std::string>& unused_tensors() const { return unused_; }

 private:
  explicit Model(gguf::GgufFile file) : file_(std::move(file)) {}
  void load_weights();
  void load_layer(TensorLoader& loader, std::int64_t il);

  gguf::GgufFile file_;
  const ArchSpec* arch_ = nullptr;
  Hparams hparams_;
  ModelWeights weights_;
  std::deque<std::vector<float>> owned_;  // dequantized 1-D tensors the views point into
  std::vector<std::string> unused_;
  std::int64_t n_params_ = 0;
  std::uint64_t weight_bytes_ = 0;
};

}  // namespace qrag::model
