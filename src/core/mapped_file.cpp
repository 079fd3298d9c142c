// MappedFile: mmap, or read() into a huge-page-advised anonymous mapping.
#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/error.h"

namespace qrag::core {
namespace {

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string errno_text() { return std::strerror(errno); }

void read_all(int fd, std::uint8_t* out, std::size_t size, const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, out + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("reading " + path.string() + ": " + errno_text());
    if (n == 0) {
      throw Error("reading " + path.string() + ": file shrank while reading (expected " +
                  std::to_string(size) + " bytes, got " + std::to_string(done) + ")");
    }
    done += static_cast<std::size_t>(n);
  }
}

constexpr std::size_t kHugePage = std::size_t{2} << 20;

// An anonymous read-write mapping of `size` bytes rounded up to whole 2 MiB
// pages, starting on a 2 MiB boundary. mmap only promises 4 KiB alignment, so
// one extra huge page is mapped and the unaligned head and tail are unmapped.
void* map_aligned(std::size_t size, std::size_t& mapped_bytes, const std::filesystem::path& path) {
  mapped_bytes = (size + kHugePage - 1) / kHugePage * kHugePage;
  const std::size_t padded = mapped_bytes + kHugePage;
  void* addr = ::mmap(nullptr, padded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr == MAP_FAILED) {
    throw Error("cannot allocate " + std::to_string(size) + " bytes to read " + path.string() + ": " +
                errno_text());
  }
  const auto start = reinterpret_cast<std::uintptr_t>(addr);
  const std::uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  const std::uintptr_t end = start + padded;
  if (aligned > start) ::munmap(addr, aligned - start);
  if (end > aligned + mapped_bytes) {
    ::munmap(reinterpret_cast<void*>(aligned + mapped_bytes), end - aligned - mapped_bytes);
  }
  void* out = reinterpret_cast<void*>(aligned);
  // Advice only: without it the copy stays in 4 KiB pages and works the same.
  if (::madvise(out, mapped_bytes, MADV_HUGEPAGE) != 0) {
    spdlog::debug("madvise(MADV_HUGEPAGE) for the copy of {} failed: {}", path.string(), errno_text());
  }
  return out;
}

}  // namespace

MappedFile MappedFile::open(const std::filesystem::path& path, Mode mode) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw Error("cannot open " + path.string() + ": " + errno_text());

  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) throw Error("cannot stat " + path.string() + ": " + errno_text());
  if (!S_ISREG(info.st_mode)) throw Error("cannot open " + path.string() + ": not a regular file");

  MappedFile file;
  file.path_ = path;
  file.size_ = static_cast<std::size_t>(info.st_size);
  if (file.size_ == 0) return file;

  if (mode == Mode::kMmap) {
    void* addr = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (addr != MAP_FAILED) {
      file.data_ = static_cast<const std::uint8_t*>(addr);
      file.mapped_ = true;
      return file;
    }
    spdlog::warn("mmap of {} failed ({}); reading it into memory instead", path.string(), errno_text());
  }
  // `file` owns the copy from here, so a failed read releases it.
  file.anonymous_ = map_aligned(file.size_, file.anonymous_bytes_, path);
  auto* copy = static_cast<std::uint8_t*>(file.anonymous_);
  file.data_ = copy;
  read_all(fd.get(), copy, file.size_, path);
  if (::mprotect(file.anonymous_, file.anonymous_bytes_, PROT_READ) != 0) {
    spdlog::debug("mprotect of the copy of {} failed: {}", path.string(), errno_text());
  }
  return file;
}

std::size_t MappedFile::huge_page_bytes() const {
  if (anonymous_ == nullptr) return 0;
  // smaps has one block per mapping: a line "begin-end perms ..." (hex), then
  // fields such as "AnonHugePages:    319488 kB". The copy may appear as one
  // block or, after mprotect, as several.
  std::ifstream smaps("/proc/self/smaps");
  const auto copy_begin = reinterpret_cast<std::uintptr_t>(anonymous_);
  const std::uintptr_t copy_end = copy_begin + anonymous_bytes_;
  std::string line;
  bool inside = false;
  std::size_t total_kb = 0;
  while (std::getline(smaps, line)) {
    std::uintptr_t lo = 0;
    std::uintptr_t hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo >= copy_begin && hi <= copy_end;
      continue;
    }
    constexpr std::string_view kField = "AnonHugePages:";
    if (inside && line.rfind(kField, 0) == 0) {
      std::istringstream value(line.substr(kField.size()));
      std::size_t kb = 0;
      if (value >> kb) total_kb += kb;
    }
  }
  return total_kb * 1024;
}

MappedFile MappedFile::from_bytes(std::vector<std::uint8_t> bytes, std::filesystem::path name) {
  MappedFile file;
  file.path_ = std::move(name);
  file.buffer_ = std::move(bytes);
  file.size_ = file.buffer_.size();
  file.data_ = file.buffer_.empty() ? nullptr : file.buffer_.data();
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this == &other) return *this;
  release();
  path_ = std::move(other.path_);
  size_ = std::exchange(other.size_, 0);
  mapped_ = std::exchange(other.mapped_, false);
  anonymous_ = std::exchange(other.anonymous_, nullptr);
  anonymous_bytes_ = std::exchange(other.anonymous_bytes_, 0);
  buffer_ = std::move(other.buffer_);
  // A mapping or a copy keeps its address, and a moved vector keeps its heap buffer.
  if (mapped_ || anonymous_ != nullptr) {
    data_ = other.data_;
  } else {
    data_ = buffer_.empty() ? nullptr : buffer_.data();
  }
  other.data_ = nullptr;
  return *this;
}

MappedFile::~MappedFile() { release(); }

void MappedFile::release() noexcept {
  if (mapped_ && data_ != nullptr) {
    ::munmap(const_cast<std::uint8_t*>(data_), size_);
  }
  if (anonymous_ != nullptr) ::munmap(anonymous_, anonymous_bytes_);
  data_ = nullptr;
  size_ = 0;
  mapped_ = false;
  anonymous_ = nullptr;
  anonymous_bytes_ = 0;
  buffer_.clear();
}

}  // namespace qrag::core
