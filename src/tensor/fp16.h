// Scalar, table-free conversions between F32 and the IEEE half / bfloat16 bit patterns.
#pragma once

#include <bit>
#include <cstdint>

#include "tensor/blocks.h"

namespace qrag::tensor {

// Converts a half to F32 exactly (subnormals, infinities and NaN payloads kept).
constexpr float fp16_to_fp32(f16_bits h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) {  // infinity or NaN
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  }
  if (exponent != 0) {  // normal: rebias the exponent from 15 to 127
    return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  }
  if (mantissa == 0) return std::bit_cast<float>(sign);
  // Subnormal half: shift the mantissa up until its leading one becomes the implicit bit.
  std::uint32_t f32_exponent = 113;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    --f32_exponent;
  }
  return std::bit_cast<float>(sign | (f32_exponent << 23) | ((mantissa & 0x3ffu) << 13));
}

// Converts F32 to half with round-to-nearest-even, as ggml does (F16C `vcvtps2ph`,
// rounding mode 0). Values from 65520 up become infinity and values below 2^-25 become
// zero. A NaN stays NaN with the quiet bit set and its top payload bits kept.
constexpr f16_bits fp32_to_fp16(float f) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t magnitude = bits & 0x7fffffffu;

  if (magnitude > 0x7f800000u) {  // NaN
    return static_cast<f16_bits>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  }
  if (magnitude >= 0x47800000u) return static_cast<f16_bits>(sign | 0x7c00u);  // >= 65536 or Inf
  if (magnitude >= 0x38800000u) {
    // Normal half (>= 2^-14). Adding 0xfff plus the lowest kept bit rounds the 13
    // dropped bits to nearest even. A carry into the exponent gives the correct result,
    // including 65520..65535 rounding up to infinity.
    const std::uint32_t lowest_kept = (magnitude >> 13) & 1u;
    const std::uint32_t rounded = magnitude + 0xfffu + lowest_kept - 0x38000000u;  // rebias 127 -> 15
    return static_cast<f16_bits>(sign | (rounded >> 13));
  }
  if (magnitude < 0x33000000u) return sign;  // below 2^-25 (a tie at 2^-25 rounds to even zero)

  // Subnormal half: the result counts units of 2^-24. The F32 value is
  // mantissa * 2^(exponent - 150), so the count is mantissa >> (126 - exponent).
  const std::uint32_t exponent = magnitude >> 23;
  const std::uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
  const std::uint32_t shift = 126u - exponent;  // 14..24 here
  std::uint32_t result = mantissa >> shift;
  const std::uint32_t remainder = mantissa & ((1u << shift) - 1u);
  const std::uint32_t halfway = 1u << (shift - 1u);
  if (remainder > halfway || (remainder == halfway && (result & 1u) != 0)) ++result;
  return static_cast<f16_bits>(sign | result);  // a carry to 0x400 is the smallest normal
}

// Converts a bfloat16 to F32 exactly.
constexpr float bf16_to_fp32(bf16_bits h) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

// Converts F32 to bfloat16 with round-to-nearest-even, as ggml does. A NaN keeps its
// top payload bits and gets the quiet bit, so it never rounds into an infinity.
constexpr bf16_bits fp32_to_bf16(float f) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<bf16_bits>((bits >> 16) | 0x40u);
  }
  const std::uint32_t lowest_kept = (bits >> 16) & 1u;
  return static_cast<bf16_bits>((bits + 0x7fffu + lowest_kept) >> 16);
}

}  // namespace qrag::tensor
