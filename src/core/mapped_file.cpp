// MappedFile: mmap with a read() fallback.
#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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
  file.buffer_.resize(file.size_);
  read_all(fd.get(), file.buffer_.data(), file.size_, path);
  file.data_ = file.buffer_.data();
  return file;
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
  buffer_ = std::move(other.buffer_);
  data_ = mapped_ ? std::exchange(other.data_, nullptr) : buffer_.data();
  other.data_ = nullptr;
  return *this;
}

MappedFile::~MappedFile() { release(); }

void MappedFile::release() noexcept {
  if (mapped_ && data_ != nullptr) {
    ::munmap(const_cast<std::uint8_t*>(data_), size_);
  }
  data_ = nullptr;
  size_ = 0;
  mapped_ = false;
  buffer_.clear();
}

}  // namespace qrag::core
