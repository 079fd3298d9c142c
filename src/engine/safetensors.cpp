// Parsing and validating safetensors headers, and reading tensors as float32.
#include "engine/safetensors.h"

#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tensor/fp16.h"

namespace qrag::engine {
namespace {

// A header above this size is almost certainly a corrupt length field; the
// safetensors format itself caps headers at 100 MB.
constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;

SafetensorsTensor parse_entry(const std::string& name, const nlohmann::json& entry, std::uint64_t data_begin,
                              std::uint64_t data_size, std::size_t shard) {
  if (!entry.is_object()) throw Error("entry is not a JSON object");
  SafetensorsTensor t;
  t.name = name;
  t.shard = shard;
  if (!entry.contains("dtype") || !entry["dtype"].is_string()) throw Error("missing string field 'dtype'");
  t.dtype = entry["dtype"].get<std::string>();
  const std::size_t elem_size = safetensors_dtype_size(t.dtype);
  if (elem_size == 0) throw Error(fmt::format("unknown dtype '{}'", t.dtype));
  if (!entry.contains("shape") || !entry["shape"].is_array()) throw Error("missing array field 'shape'");
  std::uint64_t n = 1;
  for (const auto& dim : entry["shape"]) {
    if (!dim.is_number_unsigned()) throw Error(fmt::format("shape {} has a non-integer or negative dimension", entry["shape"].dump()));
    const auto d = dim.get<std::uint64_t>();
    if (d > (1ull << 40) || (d != 0 && n > (1ull << 50) / d)) throw Error(fmt::format("shape {} is too large", entry["shape"].dump()));
    n *= d;
    t.shape.push_back(static_cast<std::int64_t>(d));
  }
  const auto& offsets = entry.contains("data_offsets") ? entry["data_offsets"] : nlohmann::json();
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    throw Error("missing or invalid 'data_offsets'; expected [begin, end]");
  }
  const auto begin = offsets[0].get<std::uint64_t>();
  const auto end = offsets[1].get<std::uint64_t>();
  if (begin > end || end > data_size) {
    throw Error(fmt::format("data_offsets [{}, {}] are outside the data section of {} bytes", begin, end, data_size));
  }
  if (end - begin != n * elem_size) {
    throw Error(fmt::format("data_offsets [{}, {}] hold {} bytes but shape x {} needs {}", begin, end, end - begin,
                            t.dtype, n * elem_size));
  }
  t.begin = data_begin + begin;
  t.end = data_begin + end;
  return t;
}

}  // namespace

std::int64_t SafetensorsTensor::n_elements() const {
  std::int64_t n = 1;
  for (const std::int64_t d : shape) n *= d;
  return n;
}

std::size_t safetensors_dtype_size(std::string_view dtype) {
  static constexpr std::pair<std::string_view, std::size_t> kSizes[] = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
      {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  for (const auto& [name, size] : kSizes) {
    if (name == dtype) return size;
  }
  return 0;
}

std::vector<SafetensorsTensor> parse_safetensors(std::span<const std::uint8_t> bytes, const std::string& name,
                                                 std::size_t shard) {
  return with_context(name, [&] {
    if (bytes.size() < 8) throw Error(fmt::format("file of {} bytes is too short for the 8-byte header length", bytes.size()));
    std::uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[static_cast<std::size_t>(i)];
    if (header_len > kMaxHeaderBytes || header_len > bytes.size() - 8) {
      throw Error(fmt::format("header length {} exceeds the file size {} (or the 100 MB limit)", header_len, bytes.size()));
    }
    const auto* text = reinterpret_cast<const char*>(bytes.data() + 8);
    nlohmann::json header = nlohmann::json::parse(text, text + header_len, nullptr, false);
    if (header.is_discarded() || !header.is_object()) throw Error("the header is not a valid JSON object");

    const std::uint64_t data_begin = 8 + header_len;
    const std::uint64_t data_size = bytes.size() - data_begin;
    std::vector<SafetensorsTensor> tensors;
    for (const auto& [key, entry] : header.items()) {
      if (key == "__metadata__") continue;
      tensors.push_back(with_context(fmt::format("tensor '{}'", key),
                                     [&] { return parse_entry(key, entry, data_begin, data_size, shard); }));
    }
    return tensors;
  });
}

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  SafetensorsCheckpoint ckpt;
  std::vector<fs::path> shards;
  if (fs::is_directory(path)) {
    const fs::path single = path / "model.safetensors";
    const fs::path index = path / "model.safetensors.index.json";
    if (fs::exists(single)) {
      shards.push_back(single);
    } else if (fs::exists(index)) {
      with_context(index.string(), [&] {
        const core::MappedFile file = core::MappedFile::open(index);
        const auto b = file.bytes();
        const auto json = nlohmann::json::parse(b.begin(), b.end(), nullptr, false);
        if (json.is_discarded() || !json.contains("weight_map") || !json["weight_map"].is_object()) {
          throw Error("not valid JSON with a 'weight_map' object");
        }
        std::set<std::string> names;
        for (const auto& [tensor, shard] : json["weight_map"].items()) {
          if (!shard.is_string()) throw Error(fmt::format("weight_map['{}'] is not a file name", tensor));
          names.insert(shard.get<std::string>());
        }
        for (const auto& n : names) shards.push_back(path / n);
      });
    } else {
      throw Error(fmt::format("{}: neither model.safetensors nor model.safetensors.index.json found", path.string()));
    }
  } else if (fs::exists(path)) {
    shards.push_back(path);
  } else {
    throw Error(fmt::format("{}: safetensors file or checkpoint folder not found", path.string()));
  }

  std::set<std::string> seen;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    ckpt.files_.push_back(core::MappedFile::open(shards[i]));
    for (auto& t : parse_safetensors(ckpt.files_.back().bytes(), shards[i].string(), i)) {
      if (!seen.insert(t.name).second) {
        throw Error(fmt::format("{}: tensor '{}' appears in more than one shard", shards[i].string(), t.name));
      }
      ckpt.tensors_.push_back(std::move(t));
    }
  }
  return ckpt;
}

const SafetensorsTensor* SafetensorsCheckpoint::find(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<float> SafetensorsCheckpoint::read_f32(const SafetensorsTensor& tensor) const {
  const std::uint8_t* data = files_.at(tensor.shard).bytes().data() + tensor.begin;
  const auto n = static_cast<std::size_t>(tensor.n_elements());
  std::vector<float> out(n);  // [n_elements], same order as the file
  if (tensor.dtype == "F32") {
    std::memcpy(out.data(), data, n * sizeof(float));
  } else if (tensor.dtype == "F16" || tensor.dtype == "BF16") {
    const bool bf16 = tensor.dtype == "BF16";
    for (std::size_t i = 0; i < n; ++i) {
      std::uint16_t bits = 0;
      std::memcpy(&bits, data + 2 * i, 2);
      out[i] = bf16 ? tensor::bf16_to_fp32(bits) : tensor::fp16_to_fp32(bits);
    }
  } else {
    throw Error(fmt::format("tensor '{}': dtype {} is not supported; expected F32, F16 or BF16", tensor.name, tensor.dtype));
  }
  return out;
}

}  // namespace qrag::engine
