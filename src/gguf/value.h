// GGUF metadata values: the 13 on-disk value types, arrays included (nested too).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace qrag::gguf {

// On-disk ids of GGUF metadata value types.
enum class ValueType : std::uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

// "uint32", "string", "array", ...; "unknown" for ids outside the enum.
std::string_view value_type_name(ValueType type);

struct Value;

// A homogeneous array; `element_type` is kept even when the array is empty.
// Arrays of arrays are allowed (each inner array has its own element type).
struct Array {
  ValueType element_type = ValueType::UINT8;
  std::vector<Value> items;
};

// One metadata value. The variant alternative matches `type()`.
struct Value {
  using Storage = std::variant<std::uint8_t, std::int8_t, std::uint16_t, std::int16_t, std::uint32_t,
                               std::int32_t, float, bool, std::string, Array, std::uint64_t,
                               std::int64_t, double>;
  Storage storage;

  ValueType type() const { return static_cast<ValueType>(storage.index()); }
  bool operator==(const Value& other) const;
};

inline bool operator==(const Array& a, const Array& b) {
  return a.element_type == b.element_type && a.items == b.items;
}
inline bool Value::operator==(const Value& other) const { return storage == other.storage; }

// One key/value pair in file order.
struct KeyValue {
  std::string key;
  Value value;
};

}  // namespace qrag::gguf
