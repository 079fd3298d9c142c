// Tests the documented bit layouts of the block formats on hand-built blocks.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "tensor/fp16.h"
#include "tensor/quants.h"

namespace qrag::tensor {
namespace {

TEST(Layout, Iq4nlTableAndNibbleOrder) {
  const std::int8_t expected[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  block_iq4_nl block;
  block.d = fp32_to_fp16(0.5f);
  for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<std::uint8_t>(j | ((15 - j) << 4));
  float y[QK4_NL];
  dequantize_row_iq4_nl(&block, y, QK4_NL);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(kIq4nlValues[j], expected[j]);
    EXPECT_EQ(y[j], 0.5f * expected[j]) << j;            // low nibble: element j
    EXPECT_EQ(y[j + 16], 0.5f * expected[15 - j]) << j;  // high nibble: element j + 16
  }
}

// Q4_K/Q5_K: sub-blocks 0-3 keep scale and min in the low 6 bits of bytes j and j+4.
// Sub-blocks 4-7 keep their low nibbles in byte j+4 and their top 2 bits in bits 6-7
// of bytes j-4 (scale) and j (min).
TEST(Layout, ScaleMinK4RoundTrip) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> six_bits(0, 63);
  for (int trial = 0; trial < 1000; ++trial) {
    std::uint8_t scale[8];
    std::uint8_t min[8];
    for (int j = 0; j < 8; ++j) {
      scale[j] = static_cast<std::uint8_t>(six_bits(rng));
      min[j] = static_cast<std::uint8_t>(six_bits(rng));
    }
    std::uint8_t packed[K_SCALE_SIZE] = {};
    for (int j = 0; j < 4; ++j) {
      packed[j] = static_cast<std::uint8_t>(scale[j] | ((scale[j + 4] >> 4) << 6));
      packed[j + 4] = static_cast<std::uint8_t>(min[j] | ((min[j + 4] >> 4) << 6));
      packed[j + 8] = static_cast<std::uint8_t>((scale[j + 4] & 0x0f) | ((min[j + 4] & 0x0f) << 4));
    }
    for (int j = 0; j < 8; ++j) {
      std::uint8_t sc = 0;
      std::uint8_t m = 0;
      unpack_scale_min_k4(j, packed, &sc, &m);
      ASSERT_EQ(sc, scale[j]) << "sub-block " << j;
      ASSERT_EQ(m, min[j]) << "sub-block " << j;
    }
  }
}

// Q3_K: the low nibbles of scales 0-7 sit in the low halves of bytes 0-7, those of
// scales 8-15 in the high halves. The top 2 bits of scale j sit in byte 8 + j%4 at bit
// 2*(j/4), and every scale is stored biased by 32.
TEST(Layout, Q3KScalesSigned) {
  std::int8_t scales[16];
  for (int j = 0; j < 16; ++j) scales[j] = static_cast<std::int8_t>(j * 4 - 32);  // -32..28
  std::uint8_t packed[12] = {};
  for (int j = 0; j < 16; ++j) {
    const int biased = scales[j] + 32;
    packed[j % 8] |= static_cast<std::uint8_t>((biased & 0x0f) << (j < 8 ? 0 : 4));
    packed[8 + j % 4] |= static_cast<std::uint8_t>((biased >> 4) << (2 * (j / 4)));
  }
  std::int8_t unpacked[16];
  unpack_scales_q3_K(packed, unpacked);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(unpacked[j], scales[j]) << j;
}

// Q6_K: element 128h + 32k + l keeps its low nibble in ql[64h + 32(k%2) + l] (high
// nibble for k >= 2) and bits 4-5 in qh[32h + l] at bit 2k; levels are biased by 32
// and the scales are signed bytes.
TEST(Layout, Q6KSplitAndSignedScales) {
  block_q6_K block;
  std::memset(&block, 0, sizeof(block));
  block.d = fp32_to_fp16(1.0f);
  for (int s = 0; s < 16; ++s) block.scales[s] = static_cast<std::int8_t>(s % 2 == 0 ? -1 : 2);
  for (int e = 0; e < QK_K; ++e) {
    const int code = (e * 7) % 64;
    const int h = e / 128;
    const int k = (e / 32) % 4;
    const int l = e % 32;
    block.ql[64 * h + 32 * (k % 2) + l] |= static_cast<std::uint8_t>((code & 0x0f) << (4 * (k / 2)));
    block.qh[32 * h + l] |= static_cast<std::uint8_t>((code >> 4) << (2 * k));
  }
  float y[QK_K];
  dequantize_row_q6_K(&block, y, QK_K);
  for (int e = 0; e < QK_K; ++e) {
    const float scale = (e / 16) % 2 == 0 ? -1.0f : 2.0f;
    EXPECT_EQ(y[e], scale * static_cast<float>((e * 7) % 64 - 32)) << e;
  }
}

// Q2_K: scale in the low nibble and min in the high nibble of scales[sub-block of 16];
// 2-bit codes of element 128h + 32k + l in qs[32h + l] at bit 2k.
TEST(Layout, Q2KNibbleScalesAndMins) {
  block_q2_K block;
  std::memset(&block, 0, sizeof(block));
  block.d = fp32_to_fp16(0.5f);
  block.dmin = fp32_to_fp16(0.25f);
  for (int s = 0; s < 16; ++s) block.scales[s] = static_cast<std::uint8_t>(s | ((15 - s) << 4));
  for (int e = 0; e < QK_K; ++e) {
    block.qs[32 * (e / 128) + e % 32] |= static_cast<std::uint8_t>((e % 4) << (2 * ((e / 32) % 4)));
  }
  float y[QK_K];
  dequantize_row_q2_K(&block, y, QK_K);
  for (int e = 0; e < QK_K; ++e) {
    const int s = e / 16;
    EXPECT_EQ(y[e],
              0.5f * static_cast<float>(s) * static_cast<float>(e % 4) - 0.25f * static_cast<float>(15 - s))
        << e;
  }
}

}  // namespace
}  // namespace qrag::tensor
