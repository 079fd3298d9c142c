// Names of GGUF metadata value types.
#include "gguf/value.h"

#include <array>

namespace qrag::gguf {

std::string_view value_type_name(ValueType type) {
  static constexpr std::array<std::string_view, 13> kNames{
      "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
      "bool",  "string", "array", "uint64", "int64", "float64"};
  const auto index = static_cast<std::uint32_t>(type);
  return index < kNames.size() ? kNames[index] : std::string_view("unknown");
}

}  // namespace qrag::gguf
