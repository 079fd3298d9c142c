// `qrag imatrix -m MODEL -f TEXT`: collects per-column activation importance over a calibration text.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/text_file.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/imatrix.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace qrag::cli {
namespace {

struct ImatrixCliOptions {
  std::string model_path;
  std::string text_path;
  std::string out_path = "imatrix.gguf";
  std::int64_t n_ctx = 512;
  std::int64_t n_chunks = 0;
  int threads = 0;
};

void run_imatrix(const ImatrixCliOptions& opts) {
  const std::string text = read_text_file(opts.text_path);
  const auto model = model::Model::load(opts.model_path);
  spdlog::info("model: {}", model->summary());
  const auto tokenizer = tokenizer::Tokenizer::from_gguf(model->file());

  const int threads =
      opts.threads > 0 ? opts.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  core::ThreadPool pool(threads);
  kernels::KernelContext kernels(pool);
  engine::ImatrixOptions options;
  options.n_ctx = opts.n_ctx;
  options.n_chunks = opts.n_chunks;
  const std::string dataset = std::filesystem::path(opts.text_path).filename().string();
  const engine::Imatrix imatrix = engine::collect_imatrix(*model, tokenizer, text, options, kernels, dataset);

  imatrix.save(opts.out_path);
  spdlog::info("wrote {}: {} tensors, {} tokens of {}", opts.out_path, imatrix.values.size(), imatrix.n_tokens,
               dataset);
}

}  // namespace

void register_imatrix(CLI::App& app, const GlobalOptions& /*options*/) {
  auto* cmd = app.add_subcommand(
      "imatrix", "Collect an importance matrix (mean squared activation per weight column) for `quantize --imatrix`");
  auto opts = std::make_shared<ImatrixCliOptions>();
  cmd->add_option("-m,--model", opts->model_path, "GGUF decoder model, preferably the unquantized one")->required();
  cmd->add_option("-f,--file", opts->text_path, "Calibration text file, UTF-8")->required();
  cmd->add_option("-o,--output", opts->out_path, "Importance matrix file to write (GGUF), written atomically")
      ->capture_default_str();
  cmd->add_option("--ctx", opts->n_ctx, "Tokens per chunk, BOS included; each chunk starts with an empty KV cache")
      ->capture_default_str();
  cmd->add_option("--chunks", opts->n_chunks, "Chunks to evaluate from the start of the text (0: all)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", opts->threads, "Threads (0: one per available core)")->capture_default_str();
  cmd->callback([opts] { run_imatrix(*opts); });
}

}  // namespace qrag::cli
