// GgufFile accessors: metadata lookup, typed getters and tensor views.
#include "gguf/gguf_file.h"

#include <limits>
#include <type_traits>

#include "core/check.h"
#include "core/error.h"

namespace qrag::gguf {
namespace {

// An integer metadata value widened without loss: sign and magnitude.
struct WideInteger {
  bool negative = false;
  std::uint64_t magnitude = 0;
};

std::optional<WideInteger> as_integer(const Value& value) {
  return std::visit(
      [](const auto& v) -> std::optional<WideInteger> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_signed_v<T>) {
            if (v < 0) return WideInteger{true, static_cast<std::uint64_t>(-(static_cast<std::int64_t>(v) + 1)) + 1};
          }
          return WideInteger{false, static_cast<std::uint64_t>(v)};
        } else {
          return std::nullopt;
        }
      },
      value.storage);
}

bool is_integer_type(ValueType type) {
  switch (type) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::UINT16:
    case ValueType::INT16:
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::UINT64:
    case ValueType::INT64:
      return true;
    default:
      return false;
  }
}

std::string describe_type(const Value& value) {
  if (const auto* array = std::get_if<Array>(&value.storage)) {
    return "array of " + std::string(value_type_name(array->element_type));
  }
  return std::string(value_type_name(value.type()));
}

std::string integer_text(const WideInteger& x) {
  std::string text = x.negative ? "-" : "";
  text += std::to_string(x.magnitude);
  return text;
}

std::optional<std::int64_t> to_int64(const WideInteger& x) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (!x.negative) {
    if (x.magnitude > kMax) return std::nullopt;
    return static_cast<std::int64_t>(x.magnitude);
  }
  if (x.magnitude > kMax + 1) return std::nullopt;
  return x.magnitude == kMax + 1 ? std::numeric_limits<std::int64_t>::min()
                                 : -static_cast<std::int64_t>(x.magnitude);
}

}  // namespace

const Value* GgufFile::find(std::string_view key) const {
  const auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].value;
}

std::optional<std::uint64_t> GgufFile::value_offset(std::string_view key) const {
  const auto it = key_index_.find(key);
  if (it == key_index_.end()) return std::nullopt;
  return kv_locations_[it->second].value_offset;
}

std::size_t GgufFile::metadata_index(std::string_view key, std::string_view expected) const {
  const auto it = key_index_.find(key);
  if (it == key_index_.end()) {
    throw Error(path().string() + ": metadata key '" + std::string(key) + "' (expected " + std::string(expected) +
                ") not found");
  }
  return it->second;
}

void GgufFile::throw_type_mismatch(std::size_t index, std::string_view expected) const {
  throw Error(path().string() + ": metadata key '" + metadata_[index].key + "' (value at offset " +
              std::to_string(kv_locations_[index].value_offset) + "): expected " + std::string(expected) +
              ", found " + describe_type(metadata_[index].value));
}

std::string GgufFile::get_string(std::string_view key) const {
  const std::size_t index = metadata_index(key, "string");
  const auto* s = std::get_if<std::string>(&metadata_[index].value.storage);
  if (s == nullptr) throw_type_mismatch(index, "string");
  return *s;
}

std::uint64_t GgufFile::get_uint(std::string_view key) const {
  constexpr std::string_view kExpected = "an unsigned integer";
  const std::size_t index = metadata_index(key, kExpected);
  const std::optional<WideInteger> x = as_integer(metadata_[index].value);
  if (!x) throw_type_mismatch(index, kExpected);
  if (x->negative) throw_type_mismatch(index, std::string(kExpected) + " (the value is " + integer_text(*x) + ")");
  return x->magnitude;
}

std::int64_t GgufFile::get_int(std::string_view key) const {
  constexpr std::string_view kExpected = "an integer that fits int64";
  const std::size_t index = metadata_index(key, kExpected);
  const std::optional<WideInteger> x = as_integer(metadata_[index].value);
  if (!x) throw_type_mismatch(index, kExpected);
  const std::optional<std::int64_t> v = to_int64(*x);
  if (!v) throw_type_mismatch(index, std::string(kExpected) + " (the value is " + integer_text(*x) + ")");
  return *v;
}

double GgufFile::get_float(std::string_view key) const {
  constexpr std::string_view kExpected = "float32 or float64";
  const std::size_t index = metadata_index(key, kExpected);
  const Value& value = metadata_[index].value;
  if (const auto* f = std::get_if<float>(&value.storage)) return *f;
  if (const auto* d = std::get_if<double>(&value.storage)) return *d;
  throw_type_mismatch(index, kExpected);
}

bool GgufFile::get_bool(std::string_view key) const {
  const std::size_t index = metadata_index(key, "bool");
  const auto* b = std::get_if<bool>(&metadata_[index].value.storage);
  if (b == nullptr) throw_type_mismatch(index, "bool");
  return *b;
}

const Array& GgufFile::get_array(std::string_view key) const {
  const std::size_t index = metadata_index(key, "array");
  const auto* a = std::get_if<Array>(&metadata_[index].value.storage);
  if (a == nullptr) throw_type_mismatch(index, "array");
  return *a;
}

std::vector<std::string> GgufFile::get_string_array(std::string_view key) const {
  constexpr std::string_view kExpected = "array of string";
  const std::size_t index = metadata_index(key, kExpected);
  const auto* a = std::get_if<Array>(&metadata_[index].value.storage);
  if (a == nullptr || a->element_type != ValueType::STRING) throw_type_mismatch(index, kExpected);
  std::vector<std::string> out;
  out.reserve(a->items.size());
  for (const Value& item : a->items) out.push_back(std::get<std::string>(item.storage));
  return out;
}

std::vector<float> GgufFile::get_float_array(std::string_view key) const {
  constexpr std::string_view kExpected = "array of float32 or float64";
  const std::size_t index = metadata_index(key, kExpected);
  const auto* a = std::get_if<Array>(&metadata_[index].value.storage);
  if (a == nullptr || (a->element_type != ValueType::FLOAT32 && a->element_type != ValueType::FLOAT64)) {
    throw_type_mismatch(index, kExpected);
  }
  std::vector<float> out;
  out.reserve(a->items.size());
  for (const Value& item : a->items) {
    if (const auto* f = std::get_if<float>(&item.storage)) {
      out.push_back(*f);
    } else {
      out.push_back(static_cast<float>(std::get<double>(item.storage)));
    }
  }
  return out;
}

std::vector<std::int64_t> GgufFile::get_int_array(std::string_view key) const {
  constexpr std::string_view kExpected = "array of integers that fit int64";
  const std::size_t index = metadata_index(key, kExpected);
  const auto* a = std::get_if<Array>(&metadata_[index].value.storage);
  if (a == nullptr || !is_integer_type(a->element_type)) throw_type_mismatch(index, kExpected);
  std::vector<std::int64_t> out;
  out.reserve(a->items.size());
  for (std::size_t k = 0; k < a->items.size(); ++k) {
    const std::optional<std::int64_t> v = to_int64(*as_integer(a->items[k]));
    if (!v) {
      throw_type_mismatch(index, std::string(kExpected) + " (element " + std::to_string(k) + " is " +
                                     integer_text(*as_integer(a->items[k])) + ")");
    }
    out.push_back(*v);
  }
  return out;
}

std::optional<std::string> GgufFile::find_string(std::string_view key) const {
  if (find(key) == nullptr) return std::nullopt;
  return get_string(key);
}

std::optional<std::uint64_t> GgufFile::find_uint(std::string_view key) const {
  if (find(key) == nullptr) return std::nullopt;
  return get_uint(key);
}

std::optional<double> GgufFile::find_float(std::string_view key) const {
  if (find(key) == nullptr) return std::nullopt;
  return get_float(key);
}

std::optional<bool> GgufFile::find_bool(std::string_view key) const {
  if (find(key) == nullptr) return std::nullopt;
  return get_bool(key);
}

std::string GgufFile::architecture() const { return find_string("general.architecture").value_or(""); }

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& GgufFile::tensor(std::string_view name) const {
  const TensorInfo* info = find_tensor(name);
  if (info == nullptr) {
    throw Error(path().string() + ": tensor '" + std::string(name) + "' not found (the file has " +
                std::to_string(tensors_.size()) + " tensors)");
  }
  return *info;
}

std::span<const std::uint8_t> GgufFile::tensor_data(const TensorInfo& info) const {
  // The parser proved every tensor of this file lies inside it; a TensorInfo from
  // another file would break that, which is a caller bug.
  QRAG_CHECK(data_offset_ <= file_.size() && info.offset <= file_.size() - data_offset_ &&
                 info.n_bytes <= file_.size() - data_offset_ - info.offset,
             "tensor_data() called with a TensorInfo that does not belong to this file");
  return file_.bytes().subspan(static_cast<std::size_t>(data_offset_ + info.offset),
                               static_cast<std::size_t>(info.n_bytes));
}

std::uint64_t GgufFile::n_params() const {
  std::uint64_t total = 0;
  for (const TensorInfo& info : tensors_) total += static_cast<std::uint64_t>(info.n_elements());
  return total;
}

std::uint64_t GgufFile::tensor_bytes() const {
  std::uint64_t total = 0;
  for (const TensorInfo& info : tensors_) total += info.n_bytes;
  return total;
}

}  // namespace qrag::gguf
