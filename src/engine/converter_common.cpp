// Shared steps of Hugging Face -> GGUF conversion: JSON fields, tensor plans and the row-by-row writer.
#include "engine/converter_common.h"

#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/check.h"
#include "core/error.h"
#include "tensor/quantize.h"

namespace qrag::engine::convert {

namespace fs = std::filesystem;
using gguf::GgmlType;
using gguf::Value;
using gguf::ValueType;
using nlohmann::json;

json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("{}: file not found or unreadable", path.string()));
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(fmt::format("{}: not a valid JSON object", path.string()));
  return j;
}

std::uint32_t positive_field(const json& config, const char* key) {
  if (!config.contains(key) || !config[key].is_number_unsigned() || config[key].get<std::uint64_t>() == 0 ||
      config[key].get<std::uint64_t>() > UINT32_MAX) {
    throw Error(fmt::format("field '{}' is missing or not a positive integer", key));
  }
  return config[key].get<std::uint32_t>();
}

double number_field(const json& config, const char* key) {
  if (!config.contains(key) || !config[key].is_number()) {
    throw Error(fmt::format("field '{}' is missing or not a number", key));
  }
  return config[key].get<double>();
}

std::uint32_t file_type_id(GgmlType type) {
  switch (type) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1;
    case GgmlType::Q8_0: return 7;
    case GgmlType::BF16: return 32;
    default: throw Error(fmt::format("--type {} is not supported; expected f32, f16, bf16 or q8_0", gguf::type_name(type)));
  }
}

Value string_array(const std::vector<std::string>& items) {
  gguf::Array array{ValueType::STRING, {}};
  for (const auto& s : items) array.items.push_back(Value{s});
  return Value{std::move(array)};
}

TensorPlan plan_tensor(std::string name, const SafetensorsTensor& source, std::vector<std::int64_t> ne,
                       GgmlType type) {
  const std::vector<std::int64_t> got(source.shape.rbegin(), source.shape.rend());
  if (got != ne) {
    throw Error(fmt::format("tensor '{}': shape [{}] does not match config.json (expected GGUF ne [{}])", source.name,
                            fmt::join(source.shape, ", "), fmt::join(ne, ", ")));
  }
  const bool matrix = ne.size() == 2 && ne[0] % gguf::type_layout(type).block_size == 0;
  TensorPlan plan;
  plan.name = std::move(name);
  plan.source = &source;
  plan.ne = std::move(ne);
  plan.type = matrix ? type : GgmlType::F32;
  return plan;
}

namespace {

// Applies plan.row_order to values laid out as [n_rows][row_length].
std::vector<float> reorder(const TensorPlan& plan, std::vector<float> values) {
  if (plan.row_order.empty()) return values;
  const std::size_t row_length = plan.ne.size() == 1 ? 1 : static_cast<std::size_t>(plan.ne[0]);
  QRAG_CHECK(plan.row_order.size() * row_length == values.size(), "row order does not cover the tensor");
  std::vector<float> out(values.size());
  for (std::size_t r = 0; r < plan.row_order.size(); ++r) {
    const auto from = static_cast<std::size_t>(plan.row_order[r]);
    std::copy_n(values.data() + from * row_length, row_length, out.data() + r * row_length);
  }
  return out;
}

}  // namespace

void write_gguf(gguf::GgufWriter& writer, const SafetensorsCheckpoint& ckpt, const std::vector<TensorPlan>& plans,
                const fs::path& out) {
  for (const TensorPlan& plan : plans) writer.add_tensor(plan.name, plan.type, plan.ne);
  std::size_t next = 0;
  writer.write_file(out, [&](const gguf::TensorInfo& info, gguf::ByteSink& sink) {
    const TensorPlan& plan = plans.at(next++);
    const std::string label = plan.source ? plan.source->name : plan.name;
    with_context(fmt::format("tensor '{}'", label), [&] {
      const std::vector<float> values = reorder(plan, plan.source ? ckpt.read_f32(*plan.source) : plan.values);
      const std::int64_t ne0 = info.ne[0];  // values: [n_rows][ne0]
      const std::size_t row_bytes = gguf::row_size(info.type, ne0);
      std::vector<std::uint8_t> row(row_bytes);  // one converted row
      for (std::size_t r = 0; r * static_cast<std::size_t>(ne0) < values.size(); ++r) {
        const float* x = values.data() + r * static_cast<std::size_t>(ne0);
        if (info.type == GgmlType::F32) {
          std::memcpy(row.data(), x, row_bytes);
        } else {
          tensor::quantize_row(info.type, x, row.data(), ne0);
        }
        sink.write(row);
      }
    });
  });
}

}  // namespace qrag::engine::convert
