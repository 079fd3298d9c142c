// The table of GGML type layouts (block sizes and bytes per block).
#include "gguf/ggml_type.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "core/check.h"
#include "core/error.h"

namespace qrag::gguf {
namespace {

// Block sizes and byte sizes follow ggml's block structs (e.g. block_q4_0 is one
// F16 scale plus 16 bytes of nibbles: 18 bytes for 32 weights).
constexpr std::array<GgmlTypeLayout, 32> kLayouts{{
    {GgmlType::F32, "f32", 1, 4, false},
    {GgmlType::F16, "f16", 1, 2, false},
    {GgmlType::Q4_0, "q4_0", 32, 18, true},
    {GgmlType::Q4_1, "q4_1", 32, 20, true},
    {GgmlType::Q5_0, "q5_0", 32, 22, true},
    {GgmlType::Q5_1, "q5_1", 32, 24, true},
    {GgmlType::Q8_0, "q8_0", 32, 34, true},
    {GgmlType::Q8_1, "q8_1", 32, 36, true},
    {GgmlType::Q2_K, "q2_K", 256, 84, true},
    {GgmlType::Q3_K, "q3_K", 256, 110, true},
    {GgmlType::Q4_K, "q4_K", 256, 144, true},
    {GgmlType::Q5_K, "q5_K", 256, 176, true},
    {GgmlType::Q6_K, "q6_K", 256, 210, true},
    {GgmlType::Q8_K, "q8_K", 256, 292, true},
    {GgmlType::IQ2_XXS, "iq2_xxs", 256, 66, true},
    {GgmlType::IQ2_XS, "iq2_xs", 256, 74, true},
    {GgmlType::IQ3_XXS, "iq3_xxs", 256, 98, true},
    {GgmlType::IQ1_S, "iq1_s", 256, 50, true},
    {GgmlType::IQ4_NL, "iq4_nl", 32, 18, true},
    {GgmlType::IQ3_S, "iq3_s", 256, 110, true},
    {GgmlType::IQ2_S, "iq2_s", 256, 82, true},
    {GgmlType::IQ4_XS, "iq4_xs", 256, 136, true},
    {GgmlType::I8, "i8", 1, 1, false},
    {GgmlType::I16, "i16", 1, 2, false},
    {GgmlType::I32, "i32", 1, 4, false},
    {GgmlType::I64, "i64", 1, 8, false},
    {GgmlType::F64, "f64", 1, 8, false},
    {GgmlType::IQ1_M, "iq1_m", 256, 56, true},
    {GgmlType::BF16, "bf16", 1, 2, false},
    {GgmlType::TQ1_0, "tq1_0", 256, 54, true},
    {GgmlType::TQ2_0, "tq2_0", 256, 66, true},
    {GgmlType::MXFP4, "mxfp4", 32, 17, true},
}};

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::optional<GgmlTypeLayout> find_type_layout(std::uint32_t type_id) {
  for (const GgmlTypeLayout& layout : kLayouts) {
    if (static_cast<std::uint32_t>(layout.type) == type_id) return layout;
  }
  return std::nullopt;
}

const GgmlTypeLayout& type_layout(GgmlType type) {
  for (const GgmlTypeLayout& layout : kLayouts) {
    if (layout.type == type) return layout;
  }
  QRAG_CHECK(false, "GgmlType value missing from the layout table");
}

std::optional<GgmlType> parse_type_name(std::string_view name) {
  for (const GgmlTypeLayout& layout : kLayouts) {
    if (equals_ignore_case(layout.name, name)) return layout.type;
  }
  return std::nullopt;
}

std::size_t row_size(GgmlType type, std::int64_t n_elements) {
  const GgmlTypeLayout& layout = type_layout(type);
  if (n_elements < 0 || n_elements % layout.block_size != 0) {
    throw Error("row of " + std::to_string(n_elements) + " elements is not a multiple of the " +
                std::string(layout.name) + " block size " + std::to_string(layout.block_size));
  }
  return static_cast<std::size_t>(n_elements / layout.block_size) * layout.type_size;
}

}  // namespace qrag::gguf
