// `qrag convert HF_DIR OUT.gguf`: converts a Hugging Face BERT, llama, mistral or qwen2 checkpoint (safetensors) to GGUF.
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"
#include "engine/converter.h"

namespace qrag::cli {
namespace {

struct ConvertCliOptions {
  std::string hf_dir;
  std::string out_path;
  std::string type = "f32";
  std::string pooling;
  std::string pre;
};

void run_convert(const ConvertCliOptions& opts) {
  engine::ConvertOptions options;
  const auto type = gguf::parse_type_name(opts.type);
  if (!type) throw Error(fmt::format("--type '{}' is not a known type; expected f32, f16, bf16 or q8_0", opts.type));
  options.type = *type;
  if (!opts.pooling.empty()) options.pooling = engine::parse_pooling(opts.pooling);
  options.pre = opts.pre;
  const engine::ConvertSummary summary = engine::convert_hf_to_gguf(opts.hf_dir, opts.out_path, options);
  fmt::print("{}: {} model, {} tensors, {} tokens, {} weights", opts.out_path, summary.architecture,
             summary.n_tensors, summary.n_tokens, opts.type);
  if (summary.architecture == "bert") fmt::print(", {} pooling", engine::pooling_name(summary.pooling));
  fmt::print("\n");
}

}  // namespace

void register_convert(CLI::App& app, const GlobalOptions& /*global*/) {
  auto options = std::make_shared<ConvertCliOptions>();
  auto* cmd = app.add_subcommand(
      "convert", "Convert a Hugging Face BERT, llama, mistral or qwen2 checkpoint (safetensors) to a GGUF file");
  cmd->add_option("hf_dir", options->hf_dir,
                  "Folder with config.json, model.safetensors (or a sharded index) and vocab.txt (BERT) or "
                  "tokenizer.json (decoders)")
      ->required();
  cmd->add_option("out", options->out_path, "GGUF file to write (replaced atomically)")->required();
  cmd->add_option("--type", options->type, "Type of the weight matrices: f32, f16, bf16 or q8_0 (default f32)");
  cmd->add_option("--pooling", options->pooling,
                  "Pooling stored in the file: mean, cls, last or none (default: from 1_Pooling/config.json)");
  cmd->add_option("--pre", options->pre,
                  "tokenizer.ggml.pre of a byte-level BPE decoder, e.g. llama-bpe, qwen2, gpt-2 (default: chosen "
                  "from model_type and the tokenizer.json regex)");
  cmd->callback([options] { run_convert(*options); });
}

}  // namespace qrag::cli
