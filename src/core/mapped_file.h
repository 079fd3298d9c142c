// Read-only view of a whole file: memory-mapped, or read into memory backed by huge pages.
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
  enum class Mode {
    kMmap,  // map the file: pages are shared with the page cache and load lazily
    kRead,  // read the whole file into anonymous memory advised for huge pages
  };

  // Opens `path`. With Mode::kMmap it maps the file and falls back to reading it
  // when mmap fails (e.g. on some network or FUSE file systems). Throws
  // qrag::Error naming the path on failure.
  //
  // Mode::kRead costs a private copy of the file. The copy starts on a 2 MiB
  // boundary and is advised for transparent huge pages (madvise). Streaming a
  // model's weights once per decoded token then takes one TLB entry per 2 MiB
  // instead of one per 4 KiB. The kernel decides whether to grant huge pages,
  // and /sys/kernel/mm/transparent_hugepage/enabled set to "never" rejects them.
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
  // Bytes of the read-mode copy that the kernel backs with huge pages
  // (AnonHugePages in /proc/self/smaps); 0 for mapped files.
  std::size_t huge_page_bytes() const;
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile() = default;
  void release() noexcept;

  std::filesystem::path path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  bool mapped_ = false;                // data_ maps the file
  void* anonymous_ = nullptr;          // read mode: the private copy, 2 MiB aligned
  std::size_t anonymous_bytes_ = 0;    // its length, whole 2 MiB pages
  std::vector<std::uint8_t> buffer_;  // used only by from_bytes
};

}  // namespace qrag::core
