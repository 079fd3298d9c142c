// Bounds-checked little-endian cursor over the bytes of a GGUF file (internal).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/error.h"

namespace qrag::gguf::detail {

// Reads fixed-size little-endian fields and length-prefixed strings. Every read
// first checks the bytes are there; a failure throws qrag::Error naming the
// field and its byte offset, e.g. "version at offset 4: needs 4 bytes but only
// 2 are left (file size 6)". Not thread-safe (one cursor per parse).
class ByteReader {
 public:
  explicit ByteReader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  std::uint64_t offset() const { return offset_; }
  std::uint64_t size() const { return bytes_.size(); }
  std::uint64_t remaining() const { return bytes_.size() - offset_; }

  // Throws unless n more bytes exist at the cursor; `what` optionally says
  // which part of the field needs them ("the string length").
  void require(std::uint64_t n, std::string_view field, std::string_view what = {}) const {
    if (n > remaining()) {
      std::string message = std::string(field) + " at offset " + std::to_string(offset_) + ": needs " +
                            std::to_string(n) + " bytes";
      if (!what.empty()) message += " for " + std::string(what);
      throw Error(message + " but only " + std::to_string(remaining()) + " are left (file size " +
                  std::to_string(size()) + ")");
    }
  }

  // An unsigned or signed integer, float or double stored little-endian.
  template <typename T>
  T read(std::string_view field) {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);
    require(sizeof(T), field);
    using Bits = std::conditional_t<sizeof(T) == 1, std::uint8_t,
                                    std::conditional_t<sizeof(T) == 2, std::uint16_t,
                                                       std::conditional_t<sizeof(T) == 4, std::uint32_t,
                                                                          std::uint64_t>>>;
    Bits bits = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      bits = static_cast<Bits>(bits | static_cast<Bits>(static_cast<Bits>(bytes_[offset_ + i]) << (8 * i)));
    }
    offset_ += sizeof(T);
    return std::bit_cast<T>(bits);
  }

  // A GGUF string: u64 byte length, then the bytes (no terminator, not checked
  // for UTF-8). The error names `field` and the offset of its length.
  std::string read_string(std::string_view field) {
    const std::uint64_t start = offset_;
    require(8, field, "the string length");
    const auto length = read<std::uint64_t>(field);
    if (length > remaining()) {
      offset_ = start;
      throw Error(std::string(field) + " at offset " + std::to_string(start) + ": string length " +
                  std::to_string(length) + " exceeds the " + std::to_string(remaining_after(start + 8)) +
                  " bytes left in the file (size " + std::to_string(size()) + ")");
    }
    if (length == 0) return {};
    std::string out(reinterpret_cast<const char*>(bytes_.data() + offset_), static_cast<std::size_t>(length));
    offset_ += length;
    return out;
  }

 private:
  std::uint64_t remaining_after(std::uint64_t at) const { return at <= size() ? size() - at : 0; }

  std::span<const std::uint8_t> bytes_;
  std::uint64_t offset_ = 0;
};

}  // namespace qrag::gguf::detail
