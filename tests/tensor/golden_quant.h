// Loader of the ggml quantization goldens (inputs, block bytes and dequantized floats).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gguf/ggml_type.h"

namespace qrag::tensor::testing {

// One (input, type) pair: ggml's reference bytes for input [n_rows][n_per_row] and
// their dequantized values [n_rows * n_per_row].
struct GoldenCase {
  std::string input;
  gguf::GgmlType type;
  std::vector<std::uint8_t> bytes;
  std::vector<float> dequantized;
};

struct GoldenSet {
  std::int64_t n_rows = 0;
  std::int64_t n_per_row = 0;
  std::map<std::string, std::vector<float>> inputs;  // name -> [n_rows * n_per_row]
  std::vector<GoldenCase> cases;
};

// The parsed goldens, or nullopt when the shared file is absent (parsed once per process).
const std::optional<GoldenSet>& golden_set();

// Root-mean-square difference of two equally long vectors.
double rms_error(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace qrag::tensor::testing
