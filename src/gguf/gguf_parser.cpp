// The GGUF parser: validates every count, length, type, offset and alignment
// before trusting it, and fills a GgufFile (GgufFile::open / from_bytes).
#include <algorithm>
#include <cinttypes>
#include <limits>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/check.h"
#include "core/error.h"
#include "gguf/byte_reader.h"
#include "gguf/gguf_file.h"
#include "gguf/layout_checks.h"

namespace qrag::gguf {

// Reads one file front to back; each read_* step validates what it reads.
// Error messages give the field and its byte offset; open() prefixes
// "reading <path>" and the steps add the KV or tensor being read.
class Parser {
 public:
  explicit Parser(GgufFile& file) : file_(file), in_(file.file_.bytes()) {}

  void parse() {
    read_header();
    read_metadata();
    resolve_alignment();
    read_tensor_infos();
    place_data_section();
  }

 private:
  static constexpr std::uint64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

  std::string at(std::uint64_t offset) const { return " at offset " + std::to_string(offset); }
  std::string file_size_note() const { return " (file size " + std::to_string(in_.size()) + ")"; }

  void read_header();
  void check_counts();
  void read_metadata();
  std::string read_key(std::size_t index);
  Value read_value(ValueType type, const std::string& field, int depth);
  Array read_array(const std::string& field, int depth);
  ValueType read_value_type(const std::string& field);
  void resolve_alignment();
  void read_tensor_infos();
  void read_tensor_fields(TensorInfo& info);
  void place_data_section();
  void check_tensor_bounds(const TensorInfo& info, std::uint64_t offset_field_at) const;
  void check_overlaps() const;

  GgufFile& file_;
  detail::ByteReader in_;
  std::uint64_t tensor_count_ = 0;
  std::uint64_t kv_count_ = 0;
  std::vector<std::uint64_t> offset_field_at_;  // per tensor: where its offset field sits
};

namespace {

std::string hex_bytes(std::span<const std::uint8_t> bytes) {
  std::string out;
  for (std::uint8_t b : bytes) out += fmt::format("{}{:02x}", out.empty() ? "" : " ", b);
  return out;
}

std::string tensor_context(const TensorInfo& info, std::size_t index) {
  return "tensor '" + info.name + "' (info #" + std::to_string(index) + " at offset " +
         std::to_string(info.info_offset) + ")";
}

}  // namespace

void Parser::read_header() {
  const std::span<const std::uint8_t> bytes = file_.file_.bytes();
  const auto magic = in_.read<std::uint32_t>("magic");
  if (magic != kGgufMagic) {
    std::string note;
    if (magic == 0x67676a74 || magic == 0x67676d6c || magic == 0x67676d66) {
      note = " (a pre-GGUF GGML/GGJT file; convert it to GGUF with llama.cpp)";
    }
    throw Error("magic at offset 0: expected \"GGUF\" (47 47 55 46) but found " +
                hex_bytes(bytes.first(4)) + note);
  }
  const auto version = in_.read<std::uint32_t>("version");
  if (version == 1) {
    throw Error("version at offset 4: GGUF v1 is obsolete and not supported (supported: 2 and 3); "
                "re-convert the model with a current llama.cpp");
  }
  if (version != 2 && version != 3) {
    const std::uint32_t swapped = __builtin_bswap32(version);
    if (swapped >= 1 && swapped <= 3) {
      throw Error("version at offset 4: reads as " + std::to_string(version) + ", which is version " +
                  std::to_string(swapped) + " of a big-endian GGUF file; only little-endian files are supported");
    }
    throw Error("version at offset 4: unsupported GGUF version " + std::to_string(version) +
                " (supported: 2 and 3)");
  }
  file_.version_ = version;
  tensor_count_ = in_.read<std::uint64_t>("tensor_count");
  kv_count_ = in_.read<std::uint64_t>("kv_count");
  check_counts();
}

// Rejects counts the file cannot possibly hold before anything is allocated.
void Parser::check_counts() {
  const std::uint64_t left = in_.remaining();
  if (kv_count_ > left / detail::kMinKvBytes) {
    throw Error("kv_count at offset 16: " + std::to_string(kv_count_) + " key/value pairs need at least " +
                std::to_string(detail::kMinKvBytes) + " bytes each but only " + std::to_string(left) +
                " bytes are left" + file_size_note());
  }
  const std::uint64_t left_for_tensors = left - kv_count_ * detail::kMinKvBytes;
  if (tensor_count_ > left_for_tensors / detail::kMinTensorInfoBytes) {
    throw Error("tensor_count at offset 8: " + std::to_string(tensor_count_) +
                " tensor infos need at least " + std::to_string(detail::kMinTensorInfoBytes) +
                " bytes each but only " + std::to_string(left_for_tensors) + " bytes are left after " +
                std::to_string(kv_count_) + " minimal key/value pairs" + file_size_note());
  }
}

void Parser::read_metadata() {
  file_.metadata_.reserve(static_cast<std::size_t>(kv_count_));
  file_.kv_locations_.reserve(static_cast<std::size_t>(kv_count_));
  for (std::size_t i = 0; i < kv_count_; ++i) {
    const std::uint64_t key_offset = in_.offset();
    std::string key = with_context("KV #" + std::to_string(i), [&] { return read_key(i); });
    const std::uint64_t value_offset = in_.offset();
    Value value = with_context("KV #" + std::to_string(i) + " '" + key + "'", [&] {
      const ValueType type = read_value_type("value");
      return read_value(type, "value", 0);
    });
    file_.key_index_.emplace(key, file_.metadata_.size());
    file_.metadata_.push_back(KeyValue{std::move(key), std::move(value)});
    file_.kv_locations_.push_back({key_offset, value_offset});
  }
}

std::string Parser::read_key(std::size_t index) {
  const std::uint64_t offset = in_.offset();
  std::string key = in_.read_string("key");
  if (key.empty()) throw Error("key" + at(offset) + ": empty key");
  if (key.size() > detail::kMaxKeyLength) {
    throw Error("key" + at(offset) + ": length " + std::to_string(key.size()) +
                " exceeds the GGUF limit of " + std::to_string(detail::kMaxKeyLength) + " bytes");
  }
  if (const auto it = file_.key_index_.find(key); it != file_.key_index_.end()) {
    throw Error("key" + at(offset) + ": duplicate key '" + key + "' (first defined by KV #" +
                std::to_string(it->second) + " at offset " +
                std::to_string(file_.kv_locations_[it->second].key_offset) + "; this is KV #" +
                std::to_string(index) + ")");
  }
  return key;
}

ValueType Parser::read_value_type(const std::string& field) {
  const std::uint64_t offset = in_.offset();
  const auto id = in_.read<std::uint32_t>(field + " type");
  if (!detail::is_known_value_type(id)) {
    throw Error(field + " type" + at(offset) + ": unknown value type " + std::to_string(id) +
                " (known: 0 to 12)");
  }
  return static_cast<ValueType>(id);
}

Value Parser::read_value(ValueType type, const std::string& field, int depth) {
  switch (type) {
    case ValueType::UINT8: return Value{in_.read<std::uint8_t>(field)};
    case ValueType::INT8: return Value{in_.read<std::int8_t>(field)};
    case ValueType::UINT16: return Value{in_.read<std::uint16_t>(field)};
    case ValueType::INT16: return Value{in_.read<std::int16_t>(field)};
    case ValueType::UINT32: return Value{in_.read<std::uint32_t>(field)};
    case ValueType::INT32: return Value{in_.read<std::int32_t>(field)};
    case ValueType::FLOAT32: return Value{in_.read<float>(field)};
    case ValueType::UINT64: return Value{in_.read<std::uint64_t>(field)};
    case ValueType::INT64: return Value{in_.read<std::int64_t>(field)};
    case ValueType::FLOAT64: return Value{in_.read<double>(field)};
    case ValueType::BOOL: {
      const std::uint64_t offset = in_.offset();
      const auto byte = in_.read<std::uint8_t>(field);
      if (byte > 1) {
        throw Error(field + at(offset) + ": bool byte " + std::to_string(byte) + " is neither 0 nor 1");
      }
      return Value{byte == 1};
    }
    case ValueType::STRING: return Value{in_.read_string(field)};
    case ValueType::ARRAY: return Value{read_array(field, depth + 1)};
  }
  QRAG_CHECK(false, "value type validated before read_value");
}

Array Parser::read_array(const std::string& field, int depth) {
  const std::uint64_t offset = in_.offset();
  if (depth > detail::kMaxArrayDepth) {
    throw Error(field + at(offset) + ": arrays nested more than " + std::to_string(detail::kMaxArrayDepth) +
                " levels deep");
  }
  Array array;
  array.element_type = read_value_type(field + " element");
  const std::uint64_t length_offset = in_.offset();
  const auto length = in_.read<std::uint64_t>(field + " length");
  const std::uint64_t min_size = detail::min_encoded_size(array.element_type);
  if (length > in_.remaining() / min_size) {
    throw Error(field + " length" + at(length_offset) + ": " + std::to_string(length) + " " +
                std::string(value_type_name(array.element_type)) + " elements need at least " +
                std::to_string(min_size) + " bytes each but only " + std::to_string(in_.remaining()) +
                " bytes are left" + file_size_note());
  }
  array.items.reserve(static_cast<std::size_t>(length));
  for (std::uint64_t k = 0; k < length; ++k) {
    array.items.push_back(read_value(array.element_type, field + "[" + std::to_string(k) + "]", depth));
  }
  return array;
}

void Parser::resolve_alignment() {
  const auto it = file_.key_index_.find(std::string_view("general.alignment"));
  if (it == file_.key_index_.end()) return;
  const Value& value = file_.metadata_[it->second].value;
  const std::uint64_t offset = file_.kv_locations_[it->second].value_offset;
  if (value.type() != ValueType::UINT32) {
    throw Error("KV #" + std::to_string(it->second) + " 'general.alignment': value" + at(offset) + " has type " +
                std::string(value_type_name(value.type())) + ", expected uint32");
  }
  const std::uint32_t alignment = std::get<std::uint32_t>(value.storage);
  if (!detail::is_power_of_two(alignment)) {
    throw Error("KV #" + std::to_string(it->second) + " 'general.alignment': value" + at(offset) + ": " +
                std::to_string(alignment) + " is not a power of two");
  }
  file_.alignment_ = alignment;
}

void Parser::read_tensor_infos() {
  file_.tensors_.reserve(static_cast<std::size_t>(tensor_count_));
  offset_field_at_.reserve(static_cast<std::size_t>(tensor_count_));
  for (std::size_t i = 0; i < tensor_count_; ++i) {
    TensorInfo info;
    info.info_offset = in_.offset();
    const std::string context = "tensor info #" + std::to_string(i) + " at offset " + std::to_string(info.info_offset);
    with_context(context, [&] {
      info.name = in_.read_string("name");
      if (info.name.empty()) throw Error("name" + at(info.info_offset) + ": empty tensor name");
      if (const auto it = file_.tensor_index_.find(info.name); it != file_.tensor_index_.end()) {
        throw Error("name" + at(info.info_offset) + ": duplicate tensor name '" + info.name +
                    "' (first used by tensor info #" + std::to_string(it->second) + " at offset " +
                    std::to_string(file_.tensors_[it->second].info_offset) + ")");
      }
    });
    with_context(tensor_context(info, i), [&] { read_tensor_fields(info); });
    file_.tensor_index_.emplace(info.name, file_.tensors_.size());
    file_.tensors_.push_back(std::move(info));
  }
}

void Parser::read_tensor_fields(TensorInfo& info) {
  const std::uint64_t n_dims_offset = in_.offset();
  const auto n_dims = in_.read<std::uint32_t>("n_dims");
  if (n_dims > static_cast<std::uint32_t>(kMaxDims)) {
    throw Error("n_dims" + at(n_dims_offset) + ": " + std::to_string(n_dims) + " exceeds the maximum of " +
                std::to_string(kMaxDims) + " dimensions");
  }
  info.n_dims = static_cast<int>(n_dims);
  const std::uint64_t shape_offset = in_.offset();
  for (std::uint32_t j = 0; j < n_dims; ++j) {
    const std::string field = "ne[" + std::to_string(j) + "]";
    const std::uint64_t offset = in_.offset();
    const auto dim = in_.read<std::uint64_t>(field);
    if (dim == 0 || dim > kInt64Max) {
      throw Error(field + at(offset) + ": dimension " + std::to_string(dim) +
                  (dim == 0 ? " is zero" : " exceeds INT64_MAX"));
    }
    info.ne[j] = static_cast<std::int64_t>(dim);
  }
  const std::uint64_t type_offset = in_.offset();
  const auto type_id = in_.read<std::uint32_t>("type");
  const std::optional<GgmlTypeLayout> layout = find_type_layout(type_id);
  if (!layout) {
    throw Error("type" + at(type_offset) + ": unknown or removed tensor type id " + std::to_string(type_id));
  }
  info.type = layout->type;
  const std::uint64_t offset_offset = in_.offset();
  info.offset = in_.read<std::uint64_t>("offset");
  info.n_bytes = with_context("shape (ne) at offset " + std::to_string(shape_offset), [&] {
    return detail::checked_tensor_bytes(*layout, std::span(info.ne.data(), n_dims));
  });
  if (info.offset % file_.alignment_ != 0) {
    throw Error("offset" + at(offset_offset) + ": data offset " + std::to_string(info.offset) +
                " is not a multiple of the alignment " + std::to_string(file_.alignment_));
  }
  offset_field_at_.push_back(offset_offset);
}

void Parser::place_data_section() {
  // Header end rounded up; header end <= file size < 2^63 and alignment <= 2^31,
  // so this cannot overflow. With no tensors the data section may start past the
  // end of the file (files written without trailing padding).
  file_.data_offset_ = detail::align_up(in_.offset(), file_.alignment_);
  for (std::size_t i = 0; i < file_.tensors_.size(); ++i) {
    with_context(tensor_context(file_.tensors_[i], i),
                 [&] { check_tensor_bounds(file_.tensors_[i], offset_field_at_[i]); });
  }
  check_overlaps();
}

void Parser::check_tensor_bounds(const TensorInfo& info, std::uint64_t offset_field_at) const {
  const std::uint64_t size = in_.size();
  const std::uint64_t data_start = file_.data_offset_;
  const bool fits = data_start <= size && info.offset <= size - data_start &&
                    info.n_bytes <= size - data_start - info.offset;
  if (fits) return;
  std::uint64_t absolute = 0;
  const bool representable = !__builtin_add_overflow(data_start, info.offset, &absolute);
  throw Error("data offset " + std::to_string(info.offset) + " (field" + at(offset_field_at) + "): " +
              std::to_string(info.n_bytes) + " bytes at file offset " +
              (representable ? std::to_string(absolute) : std::to_string(data_start) + " + " + std::to_string(info.offset)) +
              " run past the end of the file (size " + std::to_string(size) + "; data section starts at " +
              std::to_string(data_start) + ")");
}

void Parser::check_overlaps() const {
  const std::vector<TensorInfo>& tensors = file_.tensors_;
  std::vector<std::size_t> order(tensors.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return tensors[a].offset < tensors[b].offset; });
  for (std::size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = tensors[order[k - 1]];
    const TensorInfo& cur = tensors[order[k]];
    // Both lie inside the file (checked above), so prev.offset + prev.n_bytes cannot overflow.
    if (prev.offset + prev.n_bytes > cur.offset) {
      throw Error(tensor_context(cur, order[k]) + ": data [" + std::to_string(cur.offset) + ", " +
                  std::to_string(cur.offset + cur.n_bytes) + ") (offset field" + at(offset_field_at_[order[k]]) +
                  ") overlaps " + tensor_context(prev, order[k - 1]) + " data [" + std::to_string(prev.offset) +
                  ", " + std::to_string(prev.offset + prev.n_bytes) +
                  ") (data offsets are relative to the data section at file offset " +
                  std::to_string(file_.data_offset_) + ")");
    }
  }
}

GgufFile GgufFile::open(const std::filesystem::path& path, core::MappedFile::Mode mode) {
  GgufFile file(core::MappedFile::open(path, mode));
  with_context("reading " + path.string(), [&] { Parser(file).parse(); });
  spdlog::debug("{}: GGUF v{}, {} KVs, {} tensors, alignment {}, data at offset {}", path.string(),
                file.version_, file.metadata_.size(), file.tensors_.size(), file.alignment_,
                file.data_offset_);
  return file;
}

GgufFile GgufFile::from_bytes(std::vector<std::uint8_t> bytes, std::filesystem::path name) {
  GgufFile file(core::MappedFile::from_bytes(std::move(bytes), std::move(name)));
  with_context("reading " + file.path().string(), [&] { Parser(file).parse(); });
  return file;
}

}  // namespace qrag::gguf
