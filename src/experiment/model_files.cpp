// Derives and caches the model files of a run: quantized precisions and converted encoders.
#include "experiment/model_files.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <xxhash.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "engine/converter.h"
#include "engine/quant_policy.h"
#include "engine/quantizer.h"
#include "gguf/gguf_file.h"

namespace qrag::experiment {
namespace {

namespace fs = std::filesystem;

// True when `cached` exists and was written after `source` last changed.
bool is_fresh(const fs::path& cached, const fs::path& source) {
  std::error_code error;
  if (!fs::exists(cached, error)) return false;
  return fs::last_write_time(cached, error) >= fs::last_write_time(source, error);
}

void require_exists(const fs::path& path, std::string_view what) {
  if (!fs::exists(path)) {
    throw Error(fmt::format("{} '{}' not found (check the path in the experiment config; run "
                            "scripts/setup.sh for the demo models)", what, path.string()));
  }
}

}  // namespace

ModelFiles::ModelFiles(fs::path cache_dir, core::ThreadPool* pool) : cache_dir_(std::move(cache_dir)), pool_(pool) {}

fs::path ModelFiles::quantized(const fs::path& source, const std::string& stem, const std::string& precision) {
  const auto target = engine::parse_quant_target(precision);
  if (!target) throw Error(fmt::format("precision '{}' is not a quantizer target", precision));
  const fs::path out = cache_dir_ / fmt::format("{}.{}.gguf", stem, precision);
  if (is_fresh(out, source)) return out;

  fs::create_directories(cache_dir_);
  engine::QuantizeOptions options;
  options.target = *target;
  options.allow_requantize = true;
  spdlog::info("quantizing {} to {} into {}", source.string(), target->name, out.string());
  const engine::QuantizeReport report = engine::quantize_model(source, out, options, pool_);
  spdlog::info("wrote {} ({:.2f} bits per weight{})", out.string(), report.bits_per_weight_out(),
               report.quantized_from ? ", quantized from " + *report.quantized_from : std::string());
  return out;
}

fs::path ModelFiles::llm_file(const ModelConfig& model, const std::string& precision) {
  require_exists(model.path, fmt::format("model '{}' file", model.name));
  if (precision == "stored") return model.path;
  return quantized(model.path, model.name, precision);
}

fs::path ModelFiles::encoder_file(const EncoderConfig& encoder) {
  require_exists(encoder.path, fmt::format("encoder '{}' path", encoder.name));
  fs::path file = encoder.path;
  if (fs::is_directory(encoder.path)) {
    // Named after the checkpoint folder, so encoders that quantize one checkpoint to
    // several precisions convert it once.
    fs::path folder = encoder.path.lexically_normal();
    if (folder.filename().empty()) folder = folder.parent_path();  // "dir/" names dir
    file = cache_dir_ / fmt::format("{}.f32.gguf", folder.filename().string());
    if (!is_fresh(file, encoder.path / "config.json")) {
      fs::create_directories(cache_dir_);
      spdlog::info("converting encoder checkpoint {} to {}", encoder.path.string(), file.string());
      engine::convert_hf_to_gguf(encoder.path, file, engine::ConvertOptions{});
    }
  }
  if (encoder.precision == "stored") return file;
  return quantized(file, encoder.name, encoder.precision);
}

std::string ModelFiles::file_hash(const fs::path& path) {
  if (const auto found = hashes_.find(path); found != hashes_.end()) return found->second;
  const core::MappedFile file = core::MappedFile::open(path);
  const XXH128_hash_t hash = XXH3_128bits(file.bytes().data(), file.bytes().size());
  std::string hex = fmt::format("{:016x}{:016x}", hash.high64, hash.low64);
  hashes_.emplace(path, hex);
  return hex;
}

std::string describe_precision(const fs::path& file, const std::string& precision) {
  const gguf::GgufFile gguf = gguf::GgufFile::open(file);
  std::string label = precision + " (" + engine::describe_matrix_type(gguf);
  if (const auto chain = gguf.find_string(engine::kQuantizedFromKey)) label += " <- " + *chain;
  return label + ")";
}

}  // namespace qrag::experiment
