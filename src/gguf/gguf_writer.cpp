// GgufWriter and its sinks: serializes metadata, tensor infos and padded tensor data.
#include "gguf/gguf_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/check.h"
#include "core/error.h"
#include "gguf/layout_checks.h"

namespace qrag::gguf {
namespace {

constexpr std::size_t kFileBufferBytes = std::size_t{1} << 20;
constexpr std::uint32_t kWriteVersion = 3;

// Appends little-endian fields to a byte buffer.
class Encoder {
 public:
  explicit Encoder(std::vector<std::uint8_t>& out) : out_(out) {}

  template <typename T>
  void put(T value) {
    using Bits = std::conditional_t<sizeof(T) == 1, std::uint8_t,
                                    std::conditional_t<sizeof(T) == 2, std::uint16_t,
                                                       std::conditional_t<sizeof(T) == 4, std::uint32_t,
                                                                          std::uint64_t>>>;
    const auto bits = std::bit_cast<Bits>(value);
    for (std::size_t i = 0; i < sizeof(T); ++i) out_.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
  }

  void put_string(std::string_view s) {
    put<std::uint64_t>(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }

  // The value without its type id (array elements) or with it (put_typed).
  void put_value(const Value& value) {
    std::visit(
        [this](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, bool>) {
            put<std::uint8_t>(v ? 1 : 0);
          } else if constexpr (std::is_same_v<T, std::string>) {
            put_string(v);
          } else if constexpr (std::is_same_v<T, Array>) {
            put<std::uint32_t>(static_cast<std::uint32_t>(v.element_type));
            put<std::uint64_t>(v.items.size());
            for (const Value& item : v.items) put_value(item);
          } else {
            put<T>(v);
          }
        },
        value.storage);
  }

  void put_typed(const Value& value) {
    put<std::uint32_t>(static_cast<std::uint32_t>(value.type()));
    put_value(value);
  }

 private:
  std::vector<std::uint8_t>& out_;
};

// Checks that arrays are homogeneous, use known element types and nest at most
// kMaxArrayDepth deep. `where` names the value ("value[3]") in messages.
void validate_value(const Value& value, const std::string& where, int depth) {
  const auto* array = std::get_if<Array>(&value.storage);
  if (array == nullptr) return;
  if (depth + 1 > detail::kMaxArrayDepth) {
    throw Error(where + ": arrays nested more than " + std::to_string(detail::kMaxArrayDepth) + " levels deep");
  }
  if (!detail::is_known_value_type(static_cast<std::uint32_t>(array->element_type))) {
    throw Error(where + ": unknown array element type " +
                std::to_string(static_cast<std::uint32_t>(array->element_type)));
  }
  for (std::size_t k = 0; k < array->items.size(); ++k) {
    const std::string item_where = where + "[" + std::to_string(k) + "]";
    if (array->items[k].type() != array->element_type) {
      throw Error(item_where + " has type " + std::string(value_type_name(array->items[k].type())) +
                  " but the array's element type is " + std::string(value_type_name(array->element_type)));
    }
    validate_value(array->items[k], item_where, depth + 1);
  }
}

void validate_metadata(const std::string& key, const Value& value) {
  with_context("metadata key '" + key + "'", [&] {
    if (key.empty()) throw Error("empty key");
    if (key.size() > detail::kMaxKeyLength) {
      throw Error("key length " + std::to_string(key.size()) + " exceeds the GGUF limit of " +
                  std::to_string(detail::kMaxKeyLength) + " bytes");
    }
    validate_value(value, "value", 0);
    if (key == "general.alignment") {
      const auto* alignment = std::get_if<std::uint32_t>(&value.storage);
      if (alignment == nullptr) {
        throw Error("value has type " + std::string(value_type_name(value.type())) + ", expected uint32");
      }
      if (!detail::is_power_of_two(*alignment)) {
        throw Error(std::to_string(*alignment) + " is not a power of two");
      }
    }
  });
}

std::string errno_text() { return std::strerror(errno); }

// Writes all of `bytes` to fd, retrying short writes and EINTR.
void write_all(int fd, std::span<const std::uint8_t> bytes, const std::filesystem::path& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("writing " + path.string() + ": " + errno_text());
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
}

}  // namespace

// ---- FileSink ----

FileSink::FileSink(std::filesystem::path path) : path_(std::move(path)) {
  partial_path_ = path_;
  partial_path_ += ".partial";
  fd_ = ::open(partial_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot create " + partial_path_.string() + ": " + errno_text());
  buffer_.reserve(kFileBufferBytes);
}

FileSink::~FileSink() {
  if (fd_ >= 0) {
    ::close(fd_);
    std::error_code ignored;
    std::filesystem::remove(partial_path_, ignored);
  }
}

void FileSink::write(std::span<const std::uint8_t> bytes) {
  QRAG_CHECK(fd_ >= 0, "FileSink::write after commit");
  if (buffer_.size() + bytes.size() > kFileBufferBytes) flush();
  if (bytes.size() >= kFileBufferBytes) {
    write_all(fd_, bytes, partial_path_);
  } else {
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  }
}

void FileSink::flush() {
  write_all(fd_, buffer_, partial_path_);
  buffer_.clear();
}

void FileSink::commit() {
  QRAG_CHECK(fd_ >= 0, "FileSink::commit called twice");
  flush();
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) {
    const std::string why = errno_text();
    std::error_code ignored;
    std::filesystem::remove(partial_path_, ignored);
    throw Error("writing " + partial_path_.string() + ": " + why);
  }
  std::error_code error;
  std::filesystem::rename(partial_path_, path_, error);
  if (error) {
    std::error_code ignored;
    std::filesystem::remove(partial_path_, ignored);
    throw Error("cannot rename " + partial_path_.string() + " to " + path_.string() + ": " + error.message());
  }
}

// ---- GgufWriter: declarations ----

GgufWriter GgufWriter::copy_of(const GgufFile& file) {
  GgufWriter writer;
  for (const KeyValue& kv : file.metadata()) writer.add_metadata(kv.key, kv.value);
  for (const TensorInfo& info : file.tensors()) {
    writer.add_tensor(info.name, info.type, std::span(info.ne.data(), static_cast<std::size_t>(info.n_dims)));
  }
  return writer;
}

void GgufWriter::add_metadata(std::string key, Value value) {
  QRAG_CHECK(state_ == State::kDeclaring, "GgufWriter::add_metadata after begin()");
  validate_metadata(key, value);
  if (key_index_.contains(key)) throw Error("metadata key '" + key + "': duplicate key");
  key_index_.emplace(key, metadata_.size());
  metadata_.push_back(KeyValue{std::move(key), std::move(value)});
}

void GgufWriter::set_metadata(std::string key, Value value) {
  QRAG_CHECK(state_ == State::kDeclaring, "GgufWriter::set_metadata after begin()");
  const auto it = key_index_.find(key);
  if (it == key_index_.end()) return add_metadata(std::move(key), std::move(value));
  validate_metadata(key, value);
  metadata_[it->second].value = std::move(value);
}

bool GgufWriter::remove_metadata(std::string_view key) {
  QRAG_CHECK(state_ == State::kDeclaring, "GgufWriter::remove_metadata after begin()");
  const auto it = key_index_.find(key);
  if (it == key_index_.end()) return false;
  metadata_.erase(metadata_.begin() + static_cast<std::ptrdiff_t>(it->second));
  key_index_.clear();
  for (std::size_t i = 0; i < metadata_.size(); ++i) key_index_.emplace(metadata_[i].key, i);
  return true;
}

const TensorInfo& GgufWriter::add_tensor(std::string name, GgmlType type, std::span<const std::int64_t> ne) {
  QRAG_CHECK(state_ == State::kDeclaring, "GgufWriter::add_tensor after begin()");
  return with_context("tensor '" + name + "'", [&]() -> const TensorInfo& {
    if (name.empty()) throw Error("empty tensor name");
    if (tensor_index_.contains(name)) throw Error("duplicate tensor name");
    if (ne.size() > static_cast<std::size_t>(kMaxDims)) {
      throw Error(std::to_string(ne.size()) + " dimensions exceed the maximum of " + std::to_string(kMaxDims));
    }
    TensorInfo info;
    info.n_bytes = detail::checked_tensor_bytes(type_layout(type), ne);
    info.name = std::move(name);
    info.type = type;
    info.n_dims = static_cast<int>(ne.size());
    std::copy(ne.begin(), ne.end(), info.ne.begin());
    tensor_index_.emplace(info.name, tensors_.size());
    tensors_.push_back(std::move(info));
    return tensors_.back();
  });
}

std::size_t GgufWriter::alignment() const {
  const auto it = key_index_.find(std::string_view("general.alignment"));
  if (it == key_index_.end()) return kDefaultAlignment;
  return std::get<std::uint32_t>(metadata_[it->second].value.storage);  // validated when added
}

// ---- GgufWriter: streaming ----

void GgufWriter::begin(ByteSink& sink) {
  QRAG_CHECK(state_ == State::kDeclaring, "GgufWriter::begin called twice");
  alignment_ = alignment();
  std::vector<std::uint8_t> head;
  Encoder enc(head);
  enc.put<std::uint32_t>(kGgufMagic);
  enc.put<std::uint32_t>(kWriteVersion);
  enc.put<std::uint64_t>(tensors_.size());
  enc.put<std::uint64_t>(metadata_.size());
  for (const KeyValue& kv : metadata_) {
    enc.put_string(kv.key);
    enc.put_typed(kv.value);
  }
  std::uint64_t data_offset = 0;
  for (TensorInfo& info : tensors_) {
    info.info_offset = head.size();
    info.offset = data_offset;
    enc.put_string(info.name);
    enc.put<std::uint32_t>(static_cast<std::uint32_t>(info.n_dims));
    for (int j = 0; j < info.n_dims; ++j) enc.put<std::uint64_t>(static_cast<std::uint64_t>(info.ne[j]));
    enc.put<std::uint32_t>(static_cast<std::uint32_t>(info.type));
    enc.put<std::uint64_t>(info.offset);
    if (__builtin_add_overflow(data_offset, detail::align_up(info.n_bytes, alignment_), &data_offset)) {
      throw Error("tensor '" + info.name + "': data section size overflows uint64");
    }
  }
  sink_ = &sink;
  state_ = State::kWritingData;
  current_ = 0;
  current_written_ = 0;
  sink.write(head);
  // Streamed rather than appended to `head`: the alignment may be as large as 2^31.
  write_padding(detail::align_up(head.size(), alignment_) - head.size());
}

void GgufWriter::write_padding(std::uint64_t n_bytes) {
  static constexpr std::array<std::uint8_t, 4096> kZeros{};
  while (n_bytes > 0) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(n_bytes, kZeros.size()));
    sink_->write(std::span(kZeros.data(), n));
    n_bytes -= n;
  }
}

void GgufWriter::write_tensor_data(std::span<const std::uint8_t> bytes) {
  QRAG_CHECK(state_ == State::kWritingData, "GgufWriter::write_tensor_data outside begin()/finish()");
  if (bytes.empty()) return;
  if (current_ >= tensors_.size()) {
    throw Error("GGUF writer: " + std::to_string(bytes.size()) + " bytes of tensor data after all " +
                std::to_string(tensors_.size()) + " declared tensors were complete");
  }
  const TensorInfo& info = tensors_[current_];
  const std::uint64_t left = info.n_bytes - current_written_;
  if (bytes.size() > left) {
    throw Error("tensor '" + info.name + "': " + std::to_string(bytes.size()) + " bytes supplied but only " +
                std::to_string(left) + " of its " + std::to_string(info.n_bytes) + " bytes are left");
  }
  sink_->write(bytes);
  current_written_ += bytes.size();
  if (current_written_ == info.n_bytes) {
    write_padding(detail::align_up(info.n_bytes, alignment_) - info.n_bytes);
    ++current_;
    current_written_ = 0;
  }
}

void GgufWriter::finish() {
  QRAG_CHECK(state_ == State::kWritingData, "GgufWriter::finish without begin()");
  if (current_ < tensors_.size()) {
    const TensorInfo& info = tensors_[current_];
    throw Error("tensor '" + info.name + "': only " + std::to_string(current_written_) + " of its " +
                std::to_string(info.n_bytes) + " bytes were supplied (tensor " + std::to_string(current_ + 1) +
                " of " + std::to_string(tensors_.size()) + ")");
  }
  state_ = State::kFinished;
  sink_ = nullptr;
}

void GgufWriter::write(ByteSink& sink, const TensorProducer& produce) {
  // Hands a producer's bytes to the writer, for its own tensor only.
  class TensorSink final : public ByteSink {
   public:
    TensorSink(GgufWriter& writer, std::size_t index) : writer_(writer), index_(index) {}
    void write(std::span<const std::uint8_t> bytes) override {
      if (writer_.current_ != index_ && !bytes.empty()) {
        const TensorInfo& info = writer_.tensors_[index_];
        throw Error("tensor '" + info.name + "': the producer supplied more than its " +
                    std::to_string(info.n_bytes) + " bytes");
      }
      writer_.write_tensor_data(bytes);
    }

   private:
    GgufWriter& writer_;
    std::size_t index_;
  };

  begin(sink);
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    const TensorInfo& info = tensors_[i];
    TensorSink out(*this, i);
    produce(info, out);
    if (current_ == i) {
      throw Error("tensor '" + info.name + "': the producer supplied " + std::to_string(current_written_) +
                  " of its " + std::to_string(info.n_bytes) + " bytes");
    }
  }
  finish();
}

void GgufWriter::write_file(const std::filesystem::path& path, const TensorProducer& produce) {
  FileSink sink(path);
  with_context("writing " + path.string(), [&] { write(sink, produce); });
  sink.commit();
}

}  // namespace qrag::gguf
