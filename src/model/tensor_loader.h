// Looks up model tensors by GGUF name and checks each against its expected shape.
#pragma once

#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_file.h"
#include "kernels/kernels.h"

namespace qrag::model {

// Hands out weight views into a GGUF file and records which tensors were used,
// so that leftovers can be reported. Borrows the file, which must outlive the
// loader and every view it returned. Not thread-safe.
class TensorLoader {
 public:
  explicit TensorLoader(const gguf::GgufFile& file) : file_(&file) {}

  // A 2-D weight of n_rows rows of n_cols elements (GGUF ne = [n_cols, n_rows]).
  // Throws qrag::Error when the tensor is missing, has another shape
  // ("tensor 'blk.3.attn_k.weight' has shape [576, 192], expected [576, 64]"), or
  // has a type that matmul cannot read.
  kernels::WeightView matrix(const std::string& name, std::int64_t n_cols, std::int64_t n_rows);

  // True when the file has a tensor of that name.
  bool has(const std::string& name) const { return file_->find_tensor(name) != nullptr; }

  // A 1-D F32 vector of n elements: points into the file when stored as F32,
  // else into a dequantized copy owned by the loader's `storage`. Throws like matrix().
  const float* vector(const std::string& name, std::int64_t n);

  // Names of tensors in the file that were never requested, in file order.
  std::vector<std::string> unused() const;

  // Dequantized copies made by vector(); move it into the model to keep them alive.
  std::deque<std::vector<float>>& storage() { return storage_; }

 private:
  const gguf::TensorInfo& lookup(const std::string& name, std::span<const std::int64_t> expected);

  const gguf::GgufFile* file_;
  std::set<std::string, std::less<>> used_;
  std::deque<std::vector<float>> storage_;  // deque: pointers stay valid as it grows
};

// "[576, 64]": the shape as GGUF lists it (ne0 first).
std::string format_shape(std::span<const std::int64_t> ne);

}  // namespace qrag::model
