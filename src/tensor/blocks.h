// On-disk block layouts of the quantized GGML types, byte-compatible with GGUF files.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qrag::tensor {

// IEEE half and bfloat16 values are stored as raw bits; see tensor/fp16.h for conversions.
using f16_bits = std::uint16_t;
using bf16_bits = std::uint16_t;

inline constexpr int QK4_0 = 32;
inline constexpr int QK4_1 = 32;
inline constexpr int QK5_0 = 32;
inline constexpr int QK5_1 = 32;
inline constexpr int QK8_0 = 32;
inline constexpr int QK8_1 = 32;
inline constexpr int QK4_NL = 32;
inline constexpr int QK_K = 256;         // super-block size of the K-quants
inline constexpr int K_SCALE_SIZE = 12;  // packed 6-bit scales and mins of Q4_K/Q5_K

// Layouts: `d` is the block scale, `m` (or `dmin`) the block minimum; `qs` packs
// the low bits of each weight, `qh`/`hmask` its high bit. For 32-wide blocks,
// byte j of qs holds weight j in its low nibble and weight j+16 in its high nibble.

struct block_q4_0 {
  f16_bits d;
  std::uint8_t qs[QK4_0 / 2];
};
static_assert(sizeof(block_q4_0) == 18);

struct block_q4_1 {
  f16_bits d;
  f16_bits m;
  std::uint8_t qs[QK4_1 / 2];
};
static_assert(sizeof(block_q4_1) == 20);

struct block_q5_0 {
  f16_bits d;
  std::uint8_t qh[4];  // bit j = high bit of weight j
  std::uint8_t qs[QK5_0 / 2];
};
static_assert(sizeof(block_q5_0) == 22);

struct block_q5_1 {
  f16_bits d;
  f16_bits m;
  std::uint8_t qh[4];
  std::uint8_t qs[QK5_1 / 2];
};
static_assert(sizeof(block_q5_1) == 24);

struct block_q8_0 {
  f16_bits d;
  std::int8_t qs[QK8_0];
};
static_assert(sizeof(block_q8_0) == 34);

// Activation block paired with Q4_1/Q5_1: s = d * sum(qs).
struct block_q8_1 {
  f16_bits d;
  f16_bits s;
  std::int8_t qs[QK8_1];
};
static_assert(sizeof(block_q8_1) == 36);

struct block_iq4_nl {
  f16_bits d;
  std::uint8_t qs[QK4_NL / 2];  // indices into the fixed 16-entry non-linear table
};
static_assert(sizeof(block_iq4_nl) == 18);

// 2.625 bits per weight: 16 sub-blocks of 16, 4-bit scale and 4-bit min each.
struct block_q2_K {
  std::uint8_t scales[QK_K / 16];
  std::uint8_t qs[QK_K / 4];
  f16_bits d;
  f16_bits dmin;
};
static_assert(sizeof(block_q2_K) == 84);

// 3.4375 bits per weight: 16 sub-blocks of 16 with 6-bit scales.
struct block_q3_K {
  std::uint8_t hmask[QK_K / 8];
  std::uint8_t qs[QK_K / 4];
  std::uint8_t scales[12];
  f16_bits d;
};
static_assert(sizeof(block_q3_K) == 110);

// 4.5 bits per weight: 8 sub-blocks of 32 with 6-bit scales and mins.
struct block_q4_K {
  f16_bits d;
  f16_bits dmin;
  std::uint8_t scales[K_SCALE_SIZE];
  std::uint8_t qs[QK_K / 2];
};
static_assert(sizeof(block_q4_K) == 144);

// 5.5 bits per weight.
struct block_q5_K {
  f16_bits d;
  f16_bits dmin;
  std::uint8_t scales[K_SCALE_SIZE];
  std::uint8_t qh[QK_K / 8];
  std::uint8_t qs[QK_K / 2];
};
static_assert(sizeof(block_q5_K) == 176);

// 6.5625 bits per weight: 16 sub-blocks of 16 with 8-bit scales.
struct block_q6_K {
  std::uint8_t ql[QK_K / 2];
  std::uint8_t qh[QK_K / 4];
  std::int8_t scales[QK_K / 16];
  f16_bits d;
};
static_assert(sizeof(block_q6_K) == 210);

// Activation block paired with the K-quants; bsums[i] = sum of qs[16*i .. 16*i+15].
struct block_q8_K {
  float d;
  std::int8_t qs[QK_K];
  std::int16_t bsums[QK_K / 16];
};
static_assert(sizeof(block_q8_K) == 292);

}  // namespace qrag::tensor
