// Read-only view of a whole file: memory-mapped, or read into memory as a fallback.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

namespace qrag::core {

// Owns the mapping (or the buffer) for its lifetime; spans returned by bytes()
// stay valid until the object is destroyed or moved from. Thread-safe for
// concurrent reads.
class MappedFile {
 public:
  enum class Mode { kMmap, kRead };

  // Opens `path`. With Mode::kMmap it maps the file and falls back to reading it
  // when mmap fails (e.g. on some network or FUSE file systems). Throws
  // qrag::Error naming the path on failure.
  static MappedFile open(const std::filesystem::path& path, Mode mode = Mode::kMmap);

  // Wraps bytes already in memory (tests, fuzzing, data produced on the fly);
  // `name` stands in for the path in messages. Takes ownership of `bytes`.
  static MappedFile from_bytes(std::vector<std::uint8_t> bytes, std::filesystem::path name);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool is_mapped() const { return mapped_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile() = default;
  void release() noexcept;

  std::filesystem::path path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  bool mapped_ = false;
  std::vector<std::uint8_t> buffer_;  // used only in read mode
};

}  // namespace qrag::core
