// `qrag quantize IN.gguf OUT.gguf TYPE`: converts a model's tensors to another precision or mix, printing a table.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/quantizer.h"

namespace qrag::cli {
namespace {

struct QuantizeCliOptions {
  std::string in_path;
  std::string out_path;
  std::string type;
  std::string mix;
  std::string imatrix;
  std::string token_embd_type;
  bool keep_output = false;
  bool allow_requantize = false;
  int threads = 0;
};

std::string upper(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

engine::QuantTarget resolve_target(const QuantizeCliOptions& opts) {
  if (opts.type.empty() && opts.mix.empty()) {
    throw Error("missing target: give TYPE (e.g. q8_0) or --mix (e.g. q4_k_m)");
  }
  const std::string& name = opts.mix.empty() ? opts.type : opts.mix;
  const auto target = engine::parse_quant_target(name);
  if (!target) {
    throw Error(fmt::format("unknown quantization target '{}'; expected one of: {}", name,
                            fmt::join(engine::quant_target_names(), ", ")));
  }
  if (!opts.mix.empty()) {
    if (target->mix == engine::Mix::kNone) {
      throw Error(fmt::format("--mix {} is a single type, not a mix; pass it as TYPE instead", opts.mix));
    }
    // TYPE next to --mix may only repeat the mix or name its base type.
    const auto type = opts.type.empty() ? std::nullopt : engine::parse_quant_target(opts.type);
    if (!opts.type.empty() && (!type || (type->name != target->name && type->base_type != target->base_type))) {
      throw Error(fmt::format("TYPE '{}' contradicts --mix {} (base type {})", opts.type, opts.mix,
                              upper(gguf::type_name(target->base_type))));
    }
  }
  return *target;
}

std::optional<gguf::GgmlType> parse_token_embd_type(const std::string& name) {
  if (name.empty()) return std::nullopt;
  const auto target = engine::parse_quant_target(name);
  if (!target || target->mix != engine::Mix::kNone) {
    throw Error(fmt::format("--token-embd-type '{}' is not a storage type (e.g. q8_0, q6_k, f16)", name));
  }
  return target->base_type;
}

void print_table(const engine::QuantizeReport& report) {
  fmt::print("{:<32} {:>8} {:>8} {:>12} {:>12}  {}\n", "tensor", "type in", "type out", "bytes in", "bytes out",
             "note");
  for (const engine::TensorReport& row : report.tensors) {
    std::string note = row.choice.reason;
    if (row.used_imatrix) note += note.empty() ? "imatrix" : ", imatrix";
    fmt::print("{:<32} {:>8} {:>8} {:>12} {:>12}  {}\n", row.name, upper(gguf::type_name(row.type_in)),
               upper(gguf::type_name(row.type_out)), row.bytes_in, row.bytes_out, note);
  }
  const auto mib = [](std::uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); };
  fmt::print("total: {} tensors, {} weights, {:.2f} MiB -> {:.2f} MiB, {:.2f} -> {:.2f} bits per weight\n",
             report.tensors.size(), report.n_elements, mib(report.bytes_in), mib(report.bytes_out),
             report.bits_per_weight_in(), report.bits_per_weight_out());
  if (report.quantized_from) fmt::print("quantized from: {}\n", *report.quantized_from);
}

void run_quantize(const QuantizeCliOptions& opts) {
  engine::QuantizeOptions options;
  options.target = resolve_target(opts);
  options.policy.keep_output = opts.keep_output;
  options.policy.token_embd_type = parse_token_embd_type(opts.token_embd_type);
  options.allow_requantize = opts.allow_requantize;
  if (!opts.imatrix.empty()) options.imatrix = opts.imatrix;
  if (std::filesystem::exists(opts.in_path) && std::filesystem::exists(opts.out_path) &&
      std::filesystem::equivalent(opts.in_path, opts.out_path)) {
    throw Error(fmt::format("output {} is the input file; choose another output path", opts.out_path));
  }

  const int threads =
      opts.threads > 0 ? opts.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  core::ThreadPool pool(threads);
  const engine::QuantizeReport report = engine::quantize_model(opts.in_path, opts.out_path, options, &pool);
  print_table(report);
  spdlog::info("wrote {} ({}, {:.2f} bits per weight)", opts.out_path, options.target.name,
               report.bits_per_weight_out());
}

}  // namespace

void register_quantize(CLI::App& app, const GlobalOptions& /*options*/) {
  auto* cmd = app.add_subcommand("quantize", "Convert a GGUF model to another precision or quantization mix");
  auto opts = std::make_shared<QuantizeCliOptions>();
  cmd->add_option("input", opts->in_path, "Input GGUF model (any readable tensor types)")->required();
  cmd->add_option("output", opts->out_path, "Output GGUF file, written atomically")->required();
  cmd->add_option("type", opts->type,
                  "Target: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k..q6_k, iq4_nl, or a mix "
                  "(q3_k_m, q4_k_s, q4_k_m, q5_k_s, q5_k_m)");
  cmd->add_option("--mix", opts->mix, "Quantization mix: q3_k_m, q4_k_s, q4_k_m, q5_k_s, q5_k_m or q6_k");
  cmd->add_option("--imatrix", opts->imatrix, "Importance matrix file written by `qrag imatrix`");
  cmd->add_flag("--keep-output", opts->keep_output, "Copy output.weight unchanged in its input type");
  cmd->add_option("--token-embd-type", opts->token_embd_type, "Storage type for token_embd.weight (e.g. q8_0)");
  cmd->add_flag("--allow-requantize", opts->allow_requantize,
                "Allow quantized input matrices to be quantized to another type (adds error)");
  cmd->add_option("-t,--threads", opts->threads, "Threads (0: one per available core)")->capture_default_str();
  cmd->callback([opts] { run_quantize(*opts); });
}

}  // namespace qrag::cli
