// Importance matrix: per weight tensor, the mean squared activation entering each column, and its GGUF file.
#include "engine/imatrix.h"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/error.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

namespace qrag::engine {
namespace {

constexpr std::string_view kTypeKey = "general.type";
constexpr std::string_view kTypeValue = "imatrix";
constexpr std::string_view kDatasetKey = "qrag.imatrix.dataset";
constexpr std::string_view kTokensKey = "qrag.imatrix.n_tokens";
constexpr std::string_view kCountsKey = "qrag.imatrix.counts";

std::vector<float> read_entry(const gguf::GgufFile& file, const gguf::TensorInfo& info) {
  if (info.type != gguf::GgmlType::F32 || info.n_dims != 1) {
    throw Error(fmt::format("tensor '{}': expected an F32 1-D tensor, found {} with {} dimensions", info.name,
                            gguf::type_name(info.type), info.n_dims));
  }
  std::vector<float> values(static_cast<std::size_t>(info.ne[0]));
  const auto bytes = file.tensor_data(info);
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  for (std::size_t j = 0; j < values.size(); ++j) {
    if (!std::isfinite(values[j]) || values[j] < 0.0f) {
      throw Error(fmt::format("tensor '{}': column {}: invalid importance {} (expected finite and >= 0)",
                              info.name, j, values[j]));
    }
  }
  return values;
}

}  // namespace

Imatrix Imatrix::load(const std::filesystem::path& path) {
  return with_context("reading importance matrix " + path.string(), [&] {
    const gguf::GgufFile file = gguf::GgufFile::open(path);
    const auto type = file.find_string(kTypeKey);
    if (type != kTypeValue) {
      throw Error(fmt::format("{} is '{}', expected '{}' (write the file with `qrag imatrix`)", kTypeKey,
                              type.value_or("<missing>"), kTypeValue));
    }
    Imatrix imatrix;
    imatrix.dataset = file.find_string(kDatasetKey).value_or("");
    imatrix.n_tokens = file.find_uint(kTokensKey).value_or(0);
    std::vector<std::int64_t> counts;
    if (file.find(kCountsKey) != nullptr) counts = file.get_int_array(kCountsKey);
    if (!counts.empty() && counts.size() != file.tensors().size()) {
      throw Error(fmt::format("{} has {} items but the file has {} tensors", kCountsKey, counts.size(),
                              file.tensors().size()));
    }
    for (std::size_t i = 0; i < file.tensors().size(); ++i) {
      const gguf::TensorInfo& info = file.tensors()[i];
      imatrix.values.emplace(info.name, read_entry(file, info));
      if (!counts.empty()) {
        if (counts[i] < 0) throw Error(fmt::format("{}[{}] is negative: {}", kCountsKey, i, counts[i]));
        imatrix.counts.emplace(info.name, static_cast<std::uint64_t>(counts[i]));
      }
    }
    return imatrix;
  });
}

void Imatrix::save(const std::filesystem::path& path) const {
  with_context("writing importance matrix " + path.string(), [&] {
    gguf::GgufWriter writer;
    writer.add_metadata(std::string(kTypeKey), gguf::Value{std::string(kTypeValue)});
    writer.add_metadata(std::string(kDatasetKey), gguf::Value{dataset});
    writer.add_metadata(std::string(kTokensKey), gguf::Value{n_tokens});
    gguf::Array count_array{gguf::ValueType::UINT64, {}};
    for (const auto& [name, column_values] : values) {
      const auto count = counts.find(name);
      count_array.items.push_back(gguf::Value{count == counts.end() ? std::uint64_t{0} : count->second});
      const std::int64_t n_cols = static_cast<std::int64_t>(column_values.size());
      writer.add_tensor(name, gguf::GgmlType::F32, std::span<const std::int64_t>(&n_cols, 1));
    }
    writer.add_metadata(std::string(kCountsKey), gguf::Value{std::move(count_array)});
    writer.write_file(path, [&](const gguf::TensorInfo& info, gguf::ByteSink& out) {
      const std::vector<float>& column_values = values.find(info.name)->second;
      out.write({reinterpret_cast<const std::uint8_t*>(column_values.data()), column_values.size() * sizeof(float)});
    });
  });
}

const std::vector<float>* Imatrix::find(std::string_view weight_name) const {
  const auto it = values.find(weight_name);
  return it == values.end() ? nullptr : &it->second;
}

void ImatrixCollector::observe(std::string_view weight_name, const float* x, std::int64_t n_rows,
                               std::int64_t n_cols) {
  if (n_rows <= 0) return;
  auto it = sums_.find(weight_name);
  if (it == sums_.end()) {
    it = sums_.emplace(std::string(weight_name), Sums{std::vector<double>(static_cast<std::size_t>(n_cols), 0.0), 0})
             .first;
  } else if (static_cast<std::int64_t>(it->second.sum_sq.size()) != n_cols) {
    throw Error(fmt::format("tensor '{}': activation rows have {} columns, earlier ones had {}", weight_name, n_cols,
                            it->second.sum_sq.size()));
  }
  std::vector<double>& sum_sq = it->second.sum_sq;
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const float* row = x + r * n_cols;
    for (std::int64_t j = 0; j < n_cols; ++j) {
      if (!std::isfinite(row[j])) {
        throw Error(fmt::format("tensor '{}': activation row {} column {} is {}", weight_name, r, j, row[j]));
      }
      sum_sq[static_cast<std::size_t>(j)] += static_cast<double>(row[j]) * row[j];
    }
  }
  it->second.n_rows += static_cast<std::uint64_t>(n_rows);
}

Imatrix ImatrixCollector::result(std::string dataset) const {
  Imatrix imatrix;
  imatrix.dataset = std::move(dataset);
  imatrix.n_tokens = n_tokens_;
  for (const auto& [name, sums] : sums_) {
    std::vector<float> mean(sums.sum_sq.size());
    for (std::size_t j = 0; j < mean.size(); ++j) {
      mean[j] = static_cast<float>(sums.sum_sq[j] / static_cast<double>(sums.n_rows));
    }
    imatrix.values.emplace(name, std::move(mean));
    imatrix.counts.emplace(name, sums.n_rows);
  }
  return imatrix;
}

}  // namespace qrag::engine
