// Tensor lookup with shape and type checks for model loading.
#include "model/tensor_loader.h"

#include <array>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "tensor/quantize.h"

namespace qrag::model {
namespace {

// Weight types listed as supported by kernels::matmul.
bool matmul_supports(gguf::GgmlType type) {
  using T = gguf::GgmlType;
  switch (type) {
    case T::F32: case T::F16: case T::BF16: case T::Q8_0: case T::Q4_0: case T::Q4_1:
    case T::Q5_0: case T::Q5_1: case T::Q2_K: case T::Q3_K: case T::Q4_K: case T::Q5_K:
    case T::Q6_K: case T::IQ4_NL:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string format_shape(std::span<const std::int64_t> ne) { return fmt::format("[{}]", fmt::join(ne, ", ")); }

const gguf::TensorInfo& TensorLoader::lookup(const std::string& name, std::span<const std::int64_t> expected) {
  const gguf::TensorInfo* info = file_->find_tensor(name);
  if (!info) {
    throw Error(fmt::format("tensor '{}' not found, expected shape {}", name, format_shape(expected)));
  }
  std::vector<std::int64_t> actual(info->ne.begin(), info->ne.begin() + std::max(info->n_dims, 1));
  bool same = static_cast<int>(expected.size()) >= info->n_dims;
  for (std::size_t i = 0; same && i < expected.size(); ++i) same = info->ne[i] == expected[i];
  if (!same) {
    throw Error(fmt::format("tensor '{}' has shape {}, expected {}", name, format_shape(actual),
                            format_shape(expected)));
  }
  used_.insert(name);
  return *info;
}

kernels::WeightView TensorLoader::matrix(const std::string& name, std::int64_t n_cols, std::int64_t n_rows) {
  const std::array<std::int64_t, 2> expected{n_cols, n_rows};
  const gguf::TensorInfo& info = lookup(name, expected);
  if (!matmul_supports(info.type)) {
    throw Error(fmt::format("tensor '{}' has type {}, which the matmul kernels do not support", name,
                            gguf::type_name(info.type)));
  }
  kernels::WeightView view;
  view.type = info.type;
  view.n_cols = n_cols;
  view.n_rows = n_rows;
  view.data = file_->tensor_data(info).data();
  view.row_bytes = gguf::row_size(info.type, n_cols);
  return view;
}

const float* TensorLoader::vector(const std::string& name, std::int64_t n) {
  const std::array<std::int64_t, 1> expected{n};
  const gguf::TensorInfo& info = lookup(name, expected);
  const auto bytes = file_->tensor_data(info);
  if (info.type == gguf::GgmlType::F32 && reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(float) == 0) {
    return reinterpret_cast<const float*>(bytes.data());
  }
  if (!tensor::can_dequantize(info.type)) {
    throw Error(fmt::format("tensor '{}' has type {}, which cannot be converted to F32", name,
                            gguf::type_name(info.type)));
  }
  std::vector<float>& copy = storage_.emplace_back(static_cast<std::size_t>(n));
  tensor::dequantize_row(info.type, bytes.data(), copy.data(), n);
  return copy.data();
}

std::vector<std::string> TensorLoader::unused() const {
  std::vector<std::string> names;
  for (const gguf::TensorInfo& info : file_->tensors()) {
    if (!used_.contains(info.name)) names.push_back(info.name);
  }
  return names;
}

}  // namespace qrag::model
