// Checked row and tensor quantization entry points on top of the per-type traits.
#include "tensor/quantize.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "tensor/type_traits.h"

namespace qrag::tensor {
namespace {

// Rows with max|x| below this skip the decode check. Their block scales and mins are
// fits of x that stay within a small multiple of max|x| (at most max|x| for the
// symmetric formats), far below the F16 maximum 65504.
constexpr float kScaleOverflowCheck = 32768.0f;

// Returns max|x| over x [n]; throws qrag::Error for the first non-finite element.
float check_finite(const float* x, std::int64_t n) {
  float amax = 0.0f;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      throw Error("element " + std::to_string(i) + " is " + (std::isnan(x[i]) ? "NaN" : "Inf") +
                  "; only finite values can be quantized, so fix or re-export the source weights");
    }
    amax = std::max(amax, std::fabs(x[i]));
  }
  return amax;
}

// Throws qrag::Error when the quantized row `out` [n] decodes to a non-finite value,
// which happens when a value or block scale overflows its F16 (or BF16) field.
void check_decodes_finite(const TypeTraits& traits, const void* out, std::int64_t n, float amax) {
  std::vector<float> decoded(static_cast<std::size_t>(n));  // [n], only for rows with huge values
  traits.to_float(out, decoded.data(), n);
  for (float v : decoded) {
    if (!std::isfinite(v)) {
      throw Error("values up to " + std::to_string(amax) + " exceed the range of " +
                  std::string(gguf::type_name(traits.type)) +
                  " (a stored value or block scale overflows to infinity); keep this tensor in a wider "
                  "type such as f32");
    }
  }
}

void check_importance(const float* importance, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(importance[i]) || importance[i] < 0.0f) {
      throw Error("importance weight " + std::to_string(i) + " is " + std::to_string(importance[i]) +
                  "; importance weights must be finite and non-negative, so check the importance matrix");
    }
  }
}

const TypeTraits& writable_traits(GgmlType type) {
  const TypeTraits& traits = type_traits(type);
  if (traits.from_float == nullptr) {
    throw Error("type " + std::string(gguf::type_name(type)) +
                " cannot be quantized; choose f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, "
                "q3_K, q4_K, q5_K, q6_K or iq4_nl");
  }
  return traits;
}

// Converts one checked row; importance is ignored by types without weighting.
void convert_row(const TypeTraits& traits, const float* x, void* out, std::int64_t n,
                 const float* importance) {
  const float amax = check_finite(x, n);
  if (importance != nullptr && traits.from_float_weighted != nullptr) {
    traits.from_float_weighted(x, out, n, importance);
  } else {
    traits.from_float(x, out, n);
  }
  // F16 values and F16 block scales can overflow; F32 and Q8_K (F32 scale) cannot.
  const bool can_overflow = traits.type != GgmlType::F32 && traits.type != GgmlType::Q8_K;
  if (amax >= kScaleOverflowCheck && can_overflow) {
    check_decodes_finite(traits, out, n, amax);
  }
}

}  // namespace

void quantize_row(GgmlType type, const float* x, void* out, std::int64_t n, const float* importance) {
  const TypeTraits& traits = writable_traits(type);
  gguf::row_size(type, n);  // throws when n is not a multiple of the block size
  if (importance != nullptr) check_importance(importance, n);
  convert_row(traits, x, out, n, importance);
}

void dequantize_row(GgmlType type, const void* in, float* out, std::int64_t n) {
  const TypeTraits& traits = type_traits(type);
  if (traits.to_float == nullptr) {
    throw Error("type " + std::string(gguf::type_name(type)) + " cannot be dequantized (not supported)");
  }
  gguf::row_size(type, n);
  traits.to_float(in, out, n);
}

bool can_quantize(GgmlType type) {
  return type_traits(type).from_float != nullptr;
}

bool can_dequantize(GgmlType type) {
  return type_traits(type).to_float != nullptr;
}

void quantize_tensor(GgmlType type, const float* x, std::int64_t n_rows, std::int64_t n_per_row, void* out,
                     const float* importance, std::string_view tensor_name, core::ThreadPool* pool) {
  const std::string context = "tensor '" + std::string(tensor_name) + "'";
  with_context(context, [&] {
    const TypeTraits& traits = writable_traits(type);
    if (n_rows < 0) throw Error("invalid row count " + std::to_string(n_rows));
    if (n_per_row <= 0 || n_per_row % traits.block_size != 0) {
      throw Error("row length " + std::to_string(n_per_row) + " is not a positive multiple of the " +
                  std::string(gguf::type_name(type)) + " block size " + std::to_string(traits.block_size) +
                  "; keep this tensor in a type whose block size divides its rows (e.g. f16)");
    }
    if (importance != nullptr) check_importance(importance, n_per_row);
  });

  const TypeTraits& traits = type_traits(type);
  const std::size_t row_bytes = gguf::row_size(type, n_per_row);
  auto* out_bytes = static_cast<unsigned char*>(out);
  // Each row is written by one thread only, so the bytes do not depend on the split.
  auto convert_rows = [&](std::size_t begin, std::size_t end, int /*thread_index*/) {
    for (std::size_t r = begin; r < end; ++r) {
      try {
        convert_row(traits, x + static_cast<std::int64_t>(r) * n_per_row, out_bytes + r * row_bytes,
                    n_per_row, importance);
      } catch (Error& error) {  // context is built only on failure, not per row
        error.add_context("row " + std::to_string(r));
        error.add_context(context);
        throw;
      }
    }
  };
  const auto rows = static_cast<std::size_t>(n_rows);
  if (pool == nullptr || pool->size() == 1) {
    convert_rows(0, rows, 0);
  } else {
    pool->parallel_for(rows, convert_rows);
  }
}

}  // namespace qrag::tensor
