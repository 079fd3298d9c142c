// Test helper: writes GGUF bytes field by field (independently of GgufWriter),
// recording each field's name, context and offset as the reader's messages
// spell them, so tests can truncate or corrupt a chosen field and assert the
// exact error. Also the source of the malformed-file fuzz corpus.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/value.h"

namespace qrag::gguf::testing {

// An array length that enclosing elements depend on: the reader rejects the
// length before reading elements if count * min_size bytes are not left.
struct EnclosingArray {
  std::size_t length_offset = 0;  // of the u64 length
  std::uint64_t count = 0;
  std::uint64_t min_size = 0;  // smallest encoded element
  std::string expected;        // "<context>: value length at offset N"
};

// One field as written.
struct Field {
  std::string context;  // "KV #1 'general.name'", "tensor 'a' (info #0 at offset 96)", "" for the header
  std::string name;     // "value", "value[2]", "ne[0]", "data", "padding", ...
  std::size_t offset = 0;
  std::size_t size = 0;
  std::vector<EnclosingArray> arrays;  // outermost first
  int tensor_index = -1;               // for "data" and tensor fields

  std::size_t end() const { return offset + size; }
  // What the reader's message contains when this field is cut short.
  std::string expected() const;
};

// Raw little-endian writer with field bookkeeping.
class RawGguf {
 public:
  std::vector<std::uint8_t> bytes;
  std::vector<Field> fields;
  std::string context;  // applied to the fields written next

  std::size_t offset() const { return bytes.size(); }
  void u8(std::string_view name, std::uint8_t v) { put(name, v, 1); }
  void u16(std::string_view name, std::uint16_t v) { put(name, v, 2); }
  void u32(std::string_view name, std::uint32_t v) { put(name, v, 4); }
  void u64(std::string_view name, std::uint64_t v) { put(name, v, 8); }
  void str(std::string_view name, std::string_view s);  // u64 length + bytes, one field
  void raw(std::string_view name, const std::vector<std::uint8_t>& data);
  void pad_to(std::size_t alignment);  // zero "padding" field
  // Encodes a metadata value (type id first when with_type) like the GGUF spec says.
  void value(const Value& v, const std::string& name, bool with_type);

  void patch_u32(std::size_t offset, std::uint32_t v);
  void patch_u64(std::size_t offset, std::uint64_t v);
  // The field with this context and name (throws std::out_of_range when missing).
  const Field& field(std::string_view context_part, std::string_view name) const;

 private:
  void put(std::string_view name, std::uint64_t v, int size);
  std::vector<EnclosingArray> arrays_;
  int tensor_index_ = -1;
};

// A tensor for build(): raw ne (as on disk), type id and data; offset
// kAutoOffset places it after the previous one, aligned.
struct TestTensor {
  static constexpr std::uint64_t kAutoOffset = ~std::uint64_t{0};
  std::string name;
  std::uint32_t type = 0;  // GgmlType id
  std::vector<std::uint64_t> ne;
  std::vector<std::uint8_t> data;
  std::uint64_t offset = kAutoOffset;
};

struct TestFile {
  std::uint32_t version = 3;
  std::vector<KeyValue> metadata;
  std::vector<TestTensor> tensors;
  std::size_t alignment = 32;  // for padding; set general.alignment in metadata to change the reader's
  bool pad_end = true;         // pad after the last tensor (with no tensors: after the infos)
};

// Encodes `file`; records every field.
RawGguf build(const TestFile& file);

// A small valid file with metadata of every value type (nested and empty arrays
// included) and three tensors (F32, F16, Q8_0), data filled with a pattern.
TestFile sample_file();

// Deterministic bytes for a tensor of n bytes.
std::vector<std::uint8_t> pattern_bytes(std::size_t n, std::uint8_t seed);

// A malformed file and what its error must say.
struct MalformedCase {
  std::string name;                   // file name stem in fuzz/corpus/gguf
  std::vector<std::uint8_t> bytes;
  std::vector<std::string> expected;  // substrings of the qrag::Error message
};

// Short form in gtest output.
inline void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name << " (" << c.bytes.size() << " bytes)"; }

// Every hand-made malformed case (bad magic, absurd counts, bad alignment, ...).
std::vector<MalformedCase> malformed_cases();

// sample_file() cut at the start, middle and last byte of every field, with the
// error the reader must give (computed from the reader's documented check order).
// Cuts that leave a valid file (inside the trailing padding) are not included.
std::vector<MalformedCase> truncation_cases();

// The checked-in corpus: malformed_cases() + truncation_cases() + valid seeds
// ("valid-*"), as file name -> bytes.
std::vector<std::pair<std::string, std::vector<std::uint8_t>>> fuzz_corpus();

}  // namespace qrag::gguf::testing
