// The per-type traits table, adapting the typed row converters of tensor/quants.h.
#include "tensor/type_traits.h"

#include <array>
#include <cstring>

#include "core/check.h"
#include "tensor/quants.h"

namespace qrag::tensor {
namespace {

// Adapters from the typed converters to the type-erased signatures of TypeTraits.
template <typename Block, void (*Fn)(const Block*, float*, std::int64_t)>
void to_float(const void* in, float* out, std::int64_t n) {
  Fn(static_cast<const Block*>(in), out, n);
}

template <typename Block, void (*Fn)(const float*, Block*, std::int64_t)>
void from_float(const float* x, void* out, std::int64_t n) {
  Fn(x, static_cast<Block*>(out), n);
}

template <typename Block, void (*Fn)(const float*, Block*, std::int64_t, const float*)>
void from_float_plain(const float* x, void* out, std::int64_t n) {
  Fn(x, static_cast<Block*>(out), n, nullptr);
}

template <typename Block, void (*Fn)(const float*, Block*, std::int64_t, const float*)>
void from_float_weighted(const float* x, void* out, std::int64_t n, const float* importance) {
  Fn(x, static_cast<Block*>(out), n, importance);
}

void f32_to_float(const void* in, float* out, std::int64_t n) {
  std::memmove(out, in, static_cast<std::size_t>(n) * sizeof(float));
}

void f32_from_float(const float* x, void* out, std::int64_t n) {
  std::memmove(out, x, static_cast<std::size_t>(n) * sizeof(float));
}

template <typename Block, void (*Quantize)(const float*, Block*, std::int64_t, const float*),
          void (*Dequantize)(const Block*, float*, std::int64_t)>
constexpr TypeTraits weighted_traits(GgmlType type, std::int64_t block_size, GgmlType vec_dot_type) {
  return {type,
          block_size,
          sizeof(Block),
          &to_float<Block, Dequantize>,
          &from_float_plain<Block, Quantize>,
          &from_float_weighted<Block, Quantize>,
          vec_dot_type};
}

template <typename Block, void (*Quantize)(const float*, Block*, std::int64_t),
          void (*Dequantize)(const Block*, float*, std::int64_t)>
constexpr TypeTraits plain_traits(GgmlType type, std::int64_t block_size, GgmlType vec_dot_type) {
  return {type,    block_size,  sizeof(Block), &to_float<Block, Dequantize>, &from_float<Block, Quantize>,
          nullptr, vec_dot_type};
}

constexpr std::array kTraits{
    TypeTraits{GgmlType::F32, 1, sizeof(float), &f32_to_float, &f32_from_float, nullptr, GgmlType::F32},
    plain_traits<f16_bits, quantize_row_f16, dequantize_row_f16>(GgmlType::F16, 1, GgmlType::F16),
    plain_traits<bf16_bits, quantize_row_bf16, dequantize_row_bf16>(GgmlType::BF16, 1, GgmlType::BF16),
    weighted_traits<block_q4_0, quantize_row_q4_0, dequantize_row_q4_0>(GgmlType::Q4_0, QK4_0,
                                                                        GgmlType::Q8_0),
    plain_traits<block_q4_1, quantize_row_q4_1, dequantize_row_q4_1>(GgmlType::Q4_1, QK4_1, GgmlType::Q8_1),
    plain_traits<block_q5_0, quantize_row_q5_0, dequantize_row_q5_0>(GgmlType::Q5_0, QK5_0, GgmlType::Q8_0),
    plain_traits<block_q5_1, quantize_row_q5_1, dequantize_row_q5_1>(GgmlType::Q5_1, QK5_1, GgmlType::Q8_1),
    plain_traits<block_q8_0, quantize_row_q8_0, dequantize_row_q8_0>(GgmlType::Q8_0, QK8_0, GgmlType::Q8_0),
    plain_traits<block_q8_1, quantize_row_q8_1, dequantize_row_q8_1>(GgmlType::Q8_1, QK8_1, GgmlType::Q8_1),
    weighted_traits<block_q2_K, quantize_row_q2_K, dequantize_row_q2_K>(GgmlType::Q2_K, QK_K, GgmlType::Q8_K),
    weighted_traits<block_q3_K, quantize_row_q3_K, dequantize_row_q3_K>(GgmlType::Q3_K, QK_K, GgmlType::Q8_K),
    weighted_traits<block_q4_K, quantize_row_q4_K, dequantize_row_q4_K>(GgmlType::Q4_K, QK_K, GgmlType::Q8_K),
    weighted_traits<block_q5_K, quantize_row_q5_K, dequantize_row_q5_K>(GgmlType::Q5_K, QK_K, GgmlType::Q8_K),
    weighted_traits<block_q6_K, quantize_row_q6_K, dequantize_row_q6_K>(GgmlType::Q6_K, QK_K, GgmlType::Q8_K),
    plain_traits<block_q8_K, quantize_row_q8_K, dequantize_row_q8_K>(GgmlType::Q8_K, QK_K, GgmlType::Q8_K),
    weighted_traits<block_iq4_nl, quantize_row_iq4_nl, dequantize_row_iq4_nl>(GgmlType::IQ4_NL, QK4_NL,
                                                                              GgmlType::Q8_0),
};

}  // namespace

const TypeTraits& type_traits(GgmlType type) {
  for (const TypeTraits& traits : kTraits) {
    if (traits.type == type) return traits;
  }
  // Unsupported types: layout from the GGUF table, no converters. One entry per
  // type id, built on first use (thread-safe static initialization, immutable after).
  static const auto kUnsupported = [] {
    std::array<TypeTraits, 64> table{};
    for (std::uint32_t id = 0; id < table.size(); ++id) {
      const auto layout = gguf::find_type_layout(id);
      table[id] = TypeTraits{layout ? layout->type : GgmlType::F32,
                             layout ? layout->block_size : 1,
                             layout ? layout->type_size : 0,
                             nullptr,
                             nullptr,
                             nullptr,
                             GgmlType::F32};
    }
    return table;
  }();
  const auto id = static_cast<std::uint32_t>(type);
  QRAG_CHECK(id < kUnsupported.size(), "GgmlType id beyond the traits table");
  return kUnsupported[id];
}

}  // namespace qrag::tensor
