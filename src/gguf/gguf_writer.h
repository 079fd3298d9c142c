// Streaming GGUF v3 writer: metadata of every type, tensors with alignment padding.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_file.h"

namespace qrag::gguf {

// Where a GgufWriter's bytes go, in order.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Appends bytes; throws qrag::Error when they cannot be stored.
  virtual void write(std::span<const std::uint8_t> bytes) = 0;
};

// Keeps everything in memory (tests, fuzzing, small files).
class VectorSink final : public ByteSink {
 public:
  void write(std::span<const std::uint8_t> bytes) override { bytes_.insert(bytes_.end(), bytes.begin(), bytes.end()); }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }
  std::vector<std::uint8_t> take() { return std::move(bytes_); }

 private:
  std::vector<std::uint8_t> bytes_;
};

// Writes a file atomically: bytes go to "<path>.partial" through a 1 MiB
// buffer, and commit() renames that over `path`. Destroying a FileSink that was
// not committed deletes the partial file, so a failed write never leaves a
// truncated model behind (or clobbers an existing one). Not thread-safe.
class FileSink final : public ByteSink {
 public:
  explicit FileSink(std::filesystem::path path);  // throws qrag::Error naming the path
  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  void write(std::span<const std::uint8_t> bytes) override;
  void commit();  // flush, close and rename into place
  const std::filesystem::path& path() const { return path_; }

 private:
  void flush();

  std::filesystem::path path_;
  std::filesystem::path partial_path_;
  int fd_ = -1;
  std::vector<std::uint8_t> buffer_;
};

// Writes a GGUF v3 file in one pass without holding tensor data: declare the
// metadata and every tensor (name, type, shape) up front, then supply each
// tensor's bytes in declaration order, one tensor (or chunk) at a time, so a
// quantizer can produce a multi-GB model tensor by tensor.
//
// Layout: header, metadata in insertion order, tensor infos in declaration
// order, zero padding to the alignment (always, even with no tensors), then
// each tensor's bytes followed by zero padding to the alignment. Offsets are
// assigned in declaration order. The alignment is the uint32 value of the
// `general.alignment` metadata key when present, else 32; it is fixed by begin().
//
// Declarations are validated as the reader validates them, so the writer never
// produces a file qrag would reject. Misusing the sequence (declaring after
// begin(), writing before it) is a caller bug caught by QRAG_CHECK. Not thread-safe.
class GgufWriter {
 public:
  // Receives one tensor's bytes; a producer may call write() any number of times.
  using TensorProducer = std::function<void(const TensorInfo& info, ByteSink& out)>;

  GgufWriter() = default;

  // A writer that declares the same metadata and tensors (type and shape) as `file`.
  static GgufWriter copy_of(const GgufFile& file);

  // Appends a metadata pair. Throws qrag::Error for an empty, over-long (> 65535
  // bytes) or duplicate key, an array whose items do not match its element type,
  // arrays nested more than 8 deep, or a general.alignment that is not a
  // power-of-two uint32.
  void add_metadata(std::string key, Value value);
  // Replaces the value of an existing key in place, or appends it.
  void set_metadata(std::string key, Value value);
  // Removes a key if present; returns whether it was there.
  bool remove_metadata(std::string_view key);
  const std::vector<KeyValue>& metadata() const { return metadata_; }

  // Declares a tensor of `type` with dimensions ne (ne[0] = row length first,
  // 0 to 4 of them). Throws qrag::Error for an empty or duplicate name, more
  // than 4 dimensions, a dimension below 1, an element count or byte size that
  // overflows int64, or a row length that is not a multiple of the block size.
  const TensorInfo& add_tensor(std::string name, GgmlType type, std::span<const std::int64_t> ne);
  // Declared tensors; offset and info_offset are filled in by begin().
  const std::vector<TensorInfo>& tensors() const { return tensors_; }

  // The alignment begin() will use (or used).
  std::size_t alignment() const;

  // Low-level streaming: begin() writes everything up to the data section;
  // write_tensor_data() then takes the bytes of the current tensor (chunks may
  // not cross into the next tensor; padding is added when a tensor completes);
  // finish() checks that every declared byte arrived. `sink` must outlive finish().
  void begin(ByteSink& sink);
  void write_tensor_data(std::span<const std::uint8_t> bytes);
  void finish();

  // begin(), produce(info, out) for each tensor in order, finish(). Throws
  // qrag::Error naming the tensor when a producer supplies too few or too many bytes.
  void write(ByteSink& sink, const TensorProducer& produce);
  // write() into a FileSink, committed only when everything succeeded.
  void write_file(const std::filesystem::path& path, const TensorProducer& produce);

 private:
  enum class State { kDeclaring, kWritingData, kFinished };

  void write_padding(std::uint64_t n_bytes);

  std::vector<KeyValue> metadata_;
  std::map<std::string, std::size_t, std::less<>> key_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t, std::less<>> tensor_index_;

  State state_ = State::kDeclaring;
  ByteSink* sink_ = nullptr;
  std::size_t alignment_ = kDefaultAlignment;
  std::size_t current_ = 0;             // tensor receiving bytes
  std::uint64_t current_written_ = 0;   // bytes of it received so far
};

}  // namespace qrag::gguf
