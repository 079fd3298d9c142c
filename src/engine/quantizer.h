// Model quantizer: reads a GGUF model, converts every tensor as QuantPolicy decides, streams the result to disk.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/quant_policy.h"

namespace qrag::core {
class ThreadPool;
}

namespace qrag::engine {

struct QuantizeOptions {
  QuantTarget target;
  PolicyOptions policy;
  bool allow_requantize = false;                // allow quantized input matrices to become another quantized type
  std::optional<std::filesystem::path> imatrix;  // importance matrix file from `qrag imatrix`
};

// One row of the quantizer's table.
struct TensorReport {
  std::string name;
  GgmlType type_in = GgmlType::F32;
  GgmlType type_out = GgmlType::F32;
  std::int64_t n_elements = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  TensorChoice choice;
  bool used_imatrix = false;
};

struct QuantizeReport {
  std::vector<TensorReport> tensors;  // in file order
  std::uint64_t bytes_in = 0;         // tensor data only, without header and padding
  std::uint64_t bytes_out = 0;
  std::int64_t n_elements = 0;
  std::optional<std::string> quantized_from;  // the value written to qrag.quantized_from, if any

  double bits_per_weight_in() const;
  double bits_per_weight_out() const;
};

// Metadata keys the quantizer writes.
inline constexpr std::string_view kFileTypeKey = "general.file_type";
inline constexpr std::string_view kQuantizationVersionKey = "general.quantization_version";
inline constexpr std::string_view kQuantizedFromKey = "qrag.quantized_from";
inline constexpr std::uint32_t kQuantizationVersion = 2;

// Describes a model's matrices by their most common type ("F16", "Q4_1"), by elements.
std::string describe_matrix_type(const gguf::GgufFile& file);

// Quantizes `in` into `out` (written atomically: a failure leaves no file at
// `out`). Copies all metadata, sets general.file_type, general.quantization_version
// and, when `in` contains quantized matrices or already has a chain, qrag.quantized_from
// ("<type of in>" followed by " <- <chain of in>" when in has one). Holds one
// tensor at a time in memory (as F32 plus its output bytes). `pool` (may be null)
// parallelizes rows inside each tensor; the bytes do not depend on it.
// Throws qrag::Error for an input quantized matrix that would be quantized to
// another quantized type without allow_requantize, an importance entry whose
// length differs from the tensor's row length, or a NaN/Inf weight (naming the tensor).
QuantizeReport quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                              const QuantizeOptions& options, core::ThreadPool* pool);

}  // namespace qrag::engine
