// Validated reader for Hugging Face safetensors checkpoints (one file or sharded with an index).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"

namespace qrag::engine {

// One tensor of a safetensors file. `begin`/`end` are absolute byte offsets in
// the shard `shard`, already checked to lie inside it and to match
// shape x dtype size. `shape` is in PyTorch order (outermost first).
struct SafetensorsTensor {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", "I64", ...
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::size_t shard = 0;

  std::int64_t n_elements() const;
};

// Parses and validates the header of one safetensors file held in `bytes`:
// the 8-byte little-endian header length, the JSON header, each tensor's dtype,
// shape and data_offsets (inside the data section, sized shape x dtype).
// Throws qrag::Error naming `name` and the tensor or field at fault.
std::vector<SafetensorsTensor> parse_safetensors(std::span<const std::uint8_t> bytes, const std::string& name,
                                                 std::size_t shard);

// A checkpoint: `model.safetensors`, or the shards listed by
// `model.safetensors.index.json` (its weight_map). The files stay mapped for the
// lifetime of the object. Read-only after open(), so safe to share between threads.
class SafetensorsCheckpoint {
 public:
  // Opens a directory containing model.safetensors or model.safetensors.index.json,
  // or one .safetensors file. Throws qrag::Error naming the missing or invalid file.
  static SafetensorsCheckpoint open(const std::filesystem::path& path);

  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  // The tensor named `name`, or nullptr.
  const SafetensorsTensor* find(std::string_view name) const;
  // The tensor's values converted to float32 (from F32, F16 or BF16); throws
  // qrag::Error for any other dtype.
  std::vector<float> read_f32(const SafetensorsTensor& tensor) const;

 private:
  std::vector<core::MappedFile> files_;
  std::vector<SafetensorsTensor> tensors_;
};

// Bytes per element of a safetensors dtype name, or 0 when it is unknown.
std::size_t safetensors_dtype_size(std::string_view dtype);

}  // namespace qrag::engine
