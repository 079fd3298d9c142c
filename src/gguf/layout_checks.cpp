// Tensor size arithmetic with overflow checks, shared by the reader and writer.
#include "gguf/layout_checks.h"

#include <limits>

#include "core/error.h"

namespace qrag::gguf::detail {

std::uint64_t scalar_size(ValueType type) {
  switch (type) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL:
      return 1;
    case ValueType::UINT16:
    case ValueType::INT16:
      return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32:
      return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
      return 8;
    case ValueType::STRING:
    case ValueType::ARRAY:
      return 0;
  }
  return 0;
}

std::uint64_t min_encoded_size(ValueType type) {
  if (type == ValueType::STRING) return 8;
  if (type == ValueType::ARRAY) return 12;
  return scalar_size(type);
}

std::string shape_string(std::span<const std::int64_t> ne) {
  std::string out = "[";
  for (std::size_t i = 0; i < ne.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(ne[i]);
  }
  return out + "]";
}

std::uint64_t checked_tensor_bytes(const GgmlTypeLayout& layout, std::span<const std::int64_t> ne) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t n_elements = 1;
  for (std::size_t i = 0; i < ne.size(); ++i) {
    if (ne[i] < 1) {
      throw Error("ne[" + std::to_string(i) + "] = " + std::to_string(ne[i]) + " in shape " +
                  shape_string(ne) + " is not a positive dimension");
    }
    if (n_elements > kMax / ne[i]) {
      throw Error("element count of shape " + shape_string(ne) + " overflows int64");
    }
    n_elements *= ne[i];
  }
  const std::int64_t row_length = ne.empty() ? 1 : ne[0];
  if (row_length % layout.block_size != 0) {
    throw Error("row length ne[0] = " + std::to_string(row_length) + " is not a multiple of the " +
                std::string(layout.name) + " block size " + std::to_string(layout.block_size));
  }
  const std::uint64_t n_rows = static_cast<std::uint64_t>(n_elements / row_length);
  std::uint64_t row_bytes = 0;
  std::uint64_t n_bytes = 0;
  if (__builtin_mul_overflow(static_cast<std::uint64_t>(row_length / layout.block_size),
                             static_cast<std::uint64_t>(layout.type_size), &row_bytes) ||
      __builtin_mul_overflow(n_rows, row_bytes, &n_bytes) ||
      n_bytes > static_cast<std::uint64_t>(kMax)) {
    throw Error("byte size of a " + std::string(layout.name) + " tensor of shape " + shape_string(ne) +
                " overflows int64");
  }
  return n_bytes;
}

}  // namespace qrag::gguf::detail
