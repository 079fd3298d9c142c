// Hugging Face -> GGUF conversion: reads config.json and dispatches on its model_type.
#include "engine/converter.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/converter_common.h"

namespace qrag::engine {

namespace fs = std::filesystem;

PoolingType parse_pooling(std::string_view name) {
  if (name == "none") return PoolingType::kNone;
  if (name == "mean") return PoolingType::kMean;
  if (name == "cls") return PoolingType::kCls;
  if (name == "last") return PoolingType::kLast;
  throw Error(fmt::format("pooling '{}' is not supported; expected none, mean, cls or last", name));
}

std::string_view pooling_name(PoolingType pooling) {
  switch (pooling) {
    case PoolingType::kNone: return "none";
    case PoolingType::kMean: return "mean";
    case PoolingType::kCls: return "cls";
    case PoolingType::kLast: return "last";
  }
  return "unknown";
}

ConvertSummary convert_hf_to_gguf(const fs::path& hf_dir, const fs::path& out, const ConvertOptions& options) {
  if (!fs::is_directory(hf_dir)) throw Error(fmt::format("{}: not a directory", hf_dir.string()));
  const fs::path config_path = hf_dir / "config.json";
  const nlohmann::json config = convert::read_json(config_path);
  const std::string model_type = config.value("model_type", "");
  if (model_type == "bert") return convert::convert_bert(hf_dir, config, out, options);
  if (model_type == "llama" || model_type == "mistral" || model_type == "qwen2") {
    return convert::convert_llama(hf_dir, config, out, options);
  }
  throw Error(fmt::format("{}: model_type '{}' is not supported; qrag convert handles bert, llama, mistral and qwen2",
                          config_path.string(), model_type));
}

}  // namespace qrag::engine
