// Validated, zero-copy reader for GGUF v2 and v3 files.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/mapped_file.h"
#include "gguf/ggml_type.h"
#include "gguf/value.h"

namespace qrag::gguf {

inline constexpr std::uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as little-endian uint32
inline constexpr std::size_t kDefaultAlignment = 32;
inline constexpr int kMaxDims = 4;

// One tensor as described in the file header.
struct TensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  int n_dims = 0;
  // ne[0] is the row length (fastest-varying); unused trailing dims are 1.
  std::array<std::int64_t, kMaxDims> ne{1, 1, 1, 1};
  std::uint64_t offset = 0;      // relative to the start of the data section
  std::uint64_t n_bytes = 0;     // rows * row_size(type, ne[0])
  std::uint64_t info_offset = 0;  // byte offset of this tensor's info record in the file

  std::int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  std::int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
};

// An opened GGUF file. Owns the mapping; tensor spans point into it and stay
// valid for the lifetime of the GgufFile. Immutable after open, so concurrent
// reads from several threads are safe.
class GgufFile {
 public:
  // Opens, maps and fully validates `path` before returning. Every failure is a
  // qrag::Error naming the file, the field and its byte offset.
  static GgufFile open(const std::filesystem::path& path,
                       core::MappedFile::Mode mode = core::MappedFile::Mode::kMmap);

  // Same validation over bytes already in memory (tests, fuzzing); `name`
  // stands in for the path in messages. Takes ownership of `bytes`.
  static GgufFile from_bytes(std::vector<std::uint8_t> bytes, std::filesystem::path name = "<memory>");

  GgufFile(GgufFile&&) noexcept = default;
  GgufFile& operator=(GgufFile&&) noexcept = default;

  const std::filesystem::path& path() const { return file_.path(); }
  // The file's bytes, mapped or read (see core::MappedFile::Mode).
  const core::MappedFile& mapped() const { return file_; }
  std::uint64_t file_size() const { return file_.size(); }
  std::uint32_t version() const { return version_; }
  std::size_t alignment() const { return alignment_; }
  std::uint64_t data_offset() const { return data_offset_; }

  // Metadata in file order.
  const std::vector<KeyValue>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;
  // Byte offset of the value of `key` in the file (for messages), or nullopt when absent.
  std::optional<std::uint64_t> value_offset(std::string_view key) const;

  // Typed getters: throw qrag::Error naming the key and the expected and actual
  // type when the key is missing or has another type. Integer getters accept any
  // integer type whose value fits the requested one.
  std::string get_string(std::string_view key) const;
  std::uint64_t get_uint(std::string_view key) const;
  std::int64_t get_int(std::string_view key) const;
  double get_float(std::string_view key) const;  // FLOAT32 or FLOAT64
  bool get_bool(std::string_view key) const;
  const Array& get_array(std::string_view key) const;
  std::vector<std::string> get_string_array(std::string_view key) const;
  std::vector<float> get_float_array(std::string_view key) const;
  std::vector<std::int64_t> get_int_array(std::string_view key) const;

  // Same, but nullopt when the key is absent (a wrong type still throws).
  std::optional<std::string> find_string(std::string_view key) const;
  std::optional<std::uint64_t> find_uint(std::string_view key) const;
  std::optional<double> find_float(std::string_view key) const;
  std::optional<bool> find_bool(std::string_view key) const;

  // general.architecture, or "" when absent.
  std::string architecture() const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  const TensorInfo& tensor(std::string_view name) const;  // throws naming the tensor
  // The bytes of a tensor of this file (n_bytes long, a view into the mapping).
  std::span<const std::uint8_t> tensor_data(const TensorInfo& info) const;

  // Sum of n_elements() and of n_bytes over all tensors.
  std::uint64_t n_params() const;
  std::uint64_t tensor_bytes() const;

 private:
  explicit GgufFile(core::MappedFile file) : file_(std::move(file)) {}
  friend class Parser;

  // Where a metadata pair sits in the file (parallel to metadata_).
  struct KvLocation {
    std::uint64_t key_offset = 0;
    std::uint64_t value_offset = 0;  // of the value type id
  };

  std::size_t metadata_index(std::string_view key, std::string_view expected) const;
  [[noreturn]] void throw_type_mismatch(std::size_t index, std::string_view expected) const;

  core::MappedFile file_;
  std::uint32_t version_ = 0;
  std::size_t alignment_ = kDefaultAlignment;
  std::uint64_t data_offset_ = 0;
  std::vector<KeyValue> metadata_;
  std::vector<KvLocation> kv_locations_;
  std::map<std::string, std::size_t, std::less<>> key_index_;     // key -> index in metadata_
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t, std::less<>> tensor_index_;  // name -> index in tensors_
};

}  // namespace qrag::gguf
