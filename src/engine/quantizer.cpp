// Model quantizer: reads a GGUF model, converts every tensor as QuantPolicy decides, streams the result to disk.
#include "engine/quantizer.h"

#include <cctype>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/check.h"
#include "core/error.h"
#include "engine/imatrix.h"
#include "gguf/gguf_writer.h"
#include "tensor/quantize.h"
#include "tensor/type_traits.h"

namespace qrag::engine {
namespace {

std::string upper_type_name(GgmlType type) {
  std::string name(gguf::type_name(type));
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

bool is_quantized(GgmlType type) { return gguf::type_layout(type).quantized; }

// Throws when converting `info` would quantize already-quantized weights again.
void check_requantize(const gguf::TensorInfo& info, const TensorChoice& choice, bool allow_requantize) {
  if (allow_requantize || choice.copy || !is_quantized(info.type) || !is_quantized(choice.type)) return;
  throw Error(fmt::format(
      "tensor '{}' is already quantized ({}); converting it to {} would quantize twice and add error. "
      "Quantize from the F16 or F32 model instead, or pass --allow-requantize",
      info.name, upper_type_name(info.type), upper_type_name(choice.type)));
}

std::optional<std::string> quantized_from_value(const gguf::GgufFile& file) {
  bool has_quantized = false;
  for (const gguf::TensorInfo& info : file.tensors()) {
    if (is_quantizable_matrix(info) && is_quantized(info.type)) has_quantized = true;
  }
  const std::optional<std::string> chain = file.find_string(kQuantizedFromKey);
  if (!has_quantized && !chain) return std::nullopt;
  std::string value = describe_matrix_type(file);
  if (chain) value += " <- " + *chain;
  return value;
}

gguf::GgufWriter declare_output(const gguf::GgufFile& file, const QuantizeOptions& options,
                                const QuantizeReport& report, const Imatrix* imatrix) {
  gguf::GgufWriter writer;
  for (const gguf::KeyValue& kv : file.metadata()) {
    if (kv.key == kFileTypeKey || kv.key == kQuantizationVersionKey || kv.key == kQuantizedFromKey) continue;
    writer.add_metadata(kv.key, kv.value);
  }
  writer.set_metadata(std::string(kFileTypeKey), gguf::Value{options.target.file_type});
  writer.set_metadata(std::string(kQuantizationVersionKey), gguf::Value{kQuantizationVersion});
  if (report.quantized_from) writer.set_metadata(std::string(kQuantizedFromKey), gguf::Value{*report.quantized_from});
  if (imatrix != nullptr) {
    writer.set_metadata("quantize.imatrix.file", gguf::Value{options.imatrix->filename().string()});
    writer.set_metadata("quantize.imatrix.dataset", gguf::Value{imatrix->dataset});
    writer.set_metadata("quantize.imatrix.entries_count",
                        gguf::Value{static_cast<std::uint32_t>(imatrix->values.size())});
  }
  for (const TensorReport& row : report.tensors) {
    const gguf::TensorInfo& info = file.tensor(row.name);
    writer.add_tensor(row.name, row.type_out,
                      std::span<const std::int64_t>(info.ne.data(), static_cast<std::size_t>(info.n_dims)));
  }
  return writer;
}

// The importance entry of `info`, checked against its row length, or null when
// there is none or type_out has no weighted quantizer.
const float* importance_for(const Imatrix* imatrix, const gguf::TensorInfo& info, GgmlType type_out) {
  if (imatrix == nullptr || !is_quantized(type_out)) return nullptr;
  const std::vector<float>* entry = imatrix->find(info.name);
  if (entry == nullptr) {
    spdlog::debug("tensor '{}': no importance matrix entry, quantizing unweighted", info.name);
    return nullptr;
  }
  if (static_cast<std::int64_t>(entry->size()) != info.ne[0]) {
    throw Error(fmt::format("tensor '{}': importance matrix entry has {} columns but the row length is {} "
                            "(was the importance matrix made for another model?)",
                            info.name, entry->size(), info.ne[0]));
  }
  // Q4_1, Q5_0, Q5_1 and Q8_0 ignore importance, so the table must not claim it was used.
  if (tensor::type_traits(type_out).from_float_weighted == nullptr) return nullptr;
  return entry->data();
}

// Converts one tensor: input type -> F32 -> output type.
void convert_tensor(const gguf::GgufFile& file, const gguf::TensorInfo& info, const TensorReport& row,
                    const float* importance, core::ThreadPool* pool, gguf::ByteSink& out) {
  const auto data = file.tensor_data(info);
  if (row.choice.copy) {
    out.write(data);
    return;
  }
  std::vector<float> x(static_cast<std::size_t>(info.n_elements()));  // [n_rows][ne0]
  tensor::dequantize_row(info.type, data.data(), x.data(), info.n_elements());
  std::vector<std::uint8_t> bytes(row.bytes_out);  // [n_rows] rows of row_size(type_out, ne0)
  tensor::quantize_tensor(row.type_out, x.data(), info.n_rows(), info.ne[0], bytes.data(), importance, info.name,
                          pool);
  out.write(bytes);
}

void log_choice(const TensorReport& row) {
  if (row.choice.fell_back) {
    spdlog::warn("tensor '{}': {} instead of {}: {}", row.name, upper_type_name(row.type_out),
                 upper_type_name(row.choice.wanted), row.choice.reason);
  } else {
    spdlog::debug("tensor '{}': {} -> {} ({})", row.name, upper_type_name(row.type_in), upper_type_name(row.type_out),
                  row.choice.reason.empty() ? "target" : row.choice.reason);
  }
}

QuantizeReport plan(const gguf::GgufFile& file, const QuantizeOptions& options) {
  const QuantPolicy policy(options.target, options.policy, file.tensors());
  QuantizeReport report;
  for (const gguf::TensorInfo& info : file.tensors()) {
    TensorReport row;
    row.name = info.name;
    row.type_in = info.type;
    row.choice = policy.choose(info);
    row.type_out = row.choice.type;
    row.n_elements = info.n_elements();
    row.bytes_in = info.n_bytes;
    row.bytes_out = row.choice.copy ? info.n_bytes
                                    : static_cast<std::uint64_t>(info.n_rows()) * gguf::row_size(row.type_out, info.ne[0]);
    check_requantize(info, row.choice, options.allow_requantize);
    if (!row.choice.copy && !tensor::can_quantize(row.type_out)) {
      throw Error(fmt::format("tensor '{}': cannot write type {}", info.name, upper_type_name(row.type_out)));
    }
    report.bytes_in += row.bytes_in;
    report.bytes_out += row.bytes_out;
    report.n_elements += row.n_elements;
    report.tensors.push_back(std::move(row));
  }
  report.quantized_from = quantized_from_value(file);
  return report;
}

}  // namespace

double QuantizeReport::bits_per_weight_in() const {
  return n_elements == 0 ? 0.0 : 8.0 * static_cast<double>(bytes_in) / static_cast<double>(n_elements);
}

double QuantizeReport::bits_per_weight_out() const {
  return n_elements == 0 ? 0.0 : 8.0 * static_cast<double>(bytes_out) / static_cast<double>(n_elements);
}

std::string describe_matrix_type(const gguf::GgufFile& file) {
  std::map<GgmlType, std::int64_t> elements;
  for (const gguf::TensorInfo& info : file.tensors()) {
    if (is_quantizable_matrix(info)) elements[info.type] += info.n_elements();
  }
  GgmlType best = GgmlType::F32;
  std::int64_t best_elements = -1;
  for (const auto& [type, n] : elements) {
    if (n > best_elements) {
      best = type;
      best_elements = n;
    }
  }
  return upper_type_name(best);
}

QuantizeReport quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                              const QuantizeOptions& options, core::ThreadPool* pool) {
  const gguf::GgufFile file = gguf::GgufFile::open(in);
  std::optional<Imatrix> imatrix;
  if (options.imatrix) imatrix = Imatrix::load(*options.imatrix);

  QuantizeReport report = with_context("quantizing " + in.string(), [&] { return plan(file, options); });
  for (const TensorReport& row : report.tensors) log_choice(row);
  spdlog::info("quantizing {} to {} ({} tensors, {:.2f} -> {:.2f} bits per weight)", in.string(),
               options.target.name, report.tensors.size(), report.bits_per_weight_in(),
               report.bits_per_weight_out());

  gguf::GgufWriter writer = declare_output(file, options, report, imatrix ? &*imatrix : nullptr);
  std::size_t next = 0;  // the writer requests tensors in declaration order, which is file order
  with_context("writing " + out.string(), [&] {
    writer.write_file(out, [&](const gguf::TensorInfo& out_info, gguf::ByteSink& sink) {
      TensorReport& row = report.tensors.at(next++);
      QRAG_CHECK(row.name == out_info.name, "writer and plan disagree on the tensor order");
      const gguf::TensorInfo& info = file.tensor(row.name);
      const float* importance = importance_for(imatrix ? &*imatrix : nullptr, info, row.type_out);
      row.used_imatrix = importance != nullptr && !row.choice.copy;
      convert_tensor(file, info, row, importance, pool, sink);
    });
  });
  return report;
}

}  // namespace qrag::engine
