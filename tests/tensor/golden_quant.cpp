// Parses the shared quantization goldens for the tensor tests.
#include "tensor/golden_quant.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "common/test_paths.h"

namespace qrag::tensor::testing {
namespace {

std::vector<std::uint8_t> decode_hex(const std::string& hex) {
  if (hex.size() % 2 != 0) throw std::runtime_error("odd hex length " + std::to_string(hex.size()));
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::runtime_error(std::string("invalid hex digit '") + c + "'");
  };
  std::vector<std::uint8_t> bytes(hex.size() / 2);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  }
  return bytes;
}

// The JSON numbers carry 9 significant digits, enough to restore each F32 exactly.
std::vector<float> to_floats(const nlohmann::json& values) {
  std::vector<float> out;
  out.reserve(values.size());
  for (const auto& v : values) out.push_back(static_cast<float>(v.get<double>()));
  return out;
}

GoldenSet parse(const std::string& path) {
  std::ifstream file(path);
  const nlohmann::json json = nlohmann::json::parse(file);
  GoldenSet set;
  set.n_rows = json.at("nrows").get<std::int64_t>();
  set.n_per_row = json.at("n_per_row").get<std::int64_t>();
  for (const auto& [name, values] : json.at("inputs").items()) set.inputs[name] = to_floats(values);
  for (const auto& entry : json.at("cases")) {
    const std::string type_name = entry.at("type").get<std::string>();
    const auto type = gguf::parse_type_name(type_name);
    if (!type) throw std::runtime_error("unknown type in goldens: " + type_name);
    set.cases.push_back(GoldenCase{entry.at("input").get<std::string>(), *type,
                                   decode_hex(entry.at("quantized_hex").get<std::string>()),
                                   to_floats(entry.at("dequantized"))});
  }
  return set;
}

}  // namespace

const std::optional<GoldenSet>& golden_set() {
  static const std::optional<GoldenSet> set = []() -> std::optional<GoldenSet> {
    const auto path = qrag::testing::shared_file("goldens/quant/quant-reference.json");
    if (!path) return std::nullopt;
    return parse(path->string());
  }();
  return set;
}

double rms_error(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) throw std::runtime_error("rms_error: size mismatch");
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double diff = static_cast<double>(a[i]) - b[i];
    sum += diff * diff;
  }
  return std::sqrt(sum / static_cast<double>(a.size()));
}

}  // namespace qrag::tensor::testing
