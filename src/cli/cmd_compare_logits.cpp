// `qrag compare-logits REF.gguf QUANT.gguf -f TEXT`: KL divergence, top-1 agreement and perplexities of a quant.
#include <algorithm>
#include <fstream>
#include <iterator>
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
#include "engine/compare_logits.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace qrag::cli {
namespace {

struct CompareCliOptions {
  std::string reference_path;
  std::string quantized_path;
  std::string text_path;
  std::int64_t n_ctx = 512;
  int threads = 0;
};

void run_compare(const CompareCliOptions& opts) {
  const std::string text = read_text_file(opts.text_path);
  const auto reference = model::Model::load(opts.reference_path);
  const auto quantized = model::Model::load(opts.quantized_path);
  spdlog::info("reference: {}", reference->summary());
  spdlog::info("quantized: {}", quantized->summary());
  // Both files carry the same vocabulary when one was quantized from the other; the reference's is used.
  const auto tokenizer = tokenizer::Tokenizer::from_gguf(reference->file());

  const int threads =
      opts.threads > 0 ? opts.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  core::ThreadPool pool(threads);
  kernels::KernelContext kernels(pool);
  engine::CompareOptions options;
  options.n_ctx = opts.n_ctx;
  const engine::LogitComparison result =
      engine::compare_logits(*reference, *quantized, tokenizer, text, options, kernels);

  fmt::print("positions:          {}\n", result.n_positions);
  fmt::print("mean KL divergence: {:.6f} nats (max {:.6f})\n", result.mean_kl, result.max_kl);
  fmt::print("top-1 agreement:    {:.2f} %\n", 100.0 * result.top1_agreement);
  fmt::print("RMS delta p:        {:.4f} %\n", 100.0 * result.rms_dp);
  fmt::print("perplexity:         reference {:.4f}, quantized {:.4f} ({:+.2f} %)\n", result.ppl_reference,
             result.ppl_quantized, 100.0 * (result.ppl_quantized / result.ppl_reference - 1.0));
}

}  // namespace

void register_compare_logits(CLI::App& app, const GlobalOptions& /*options*/) {
  auto* cmd = app.add_subcommand("compare-logits",
                                 "Compare a quantized model's next-token distributions with a reference model's");
  auto opts = std::make_shared<CompareCliOptions>();
  cmd->add_option("reference", opts->reference_path, "Reference GGUF model (e.g. F16 or F32)")->required();
  cmd->add_option("quantized", opts->quantized_path, "Quantized GGUF model of the same architecture")->required();
  cmd->add_option("-f,--file", opts->text_path, "Text file to evaluate, UTF-8")->required();
  cmd->add_option("--ctx", opts->n_ctx, "Tokens per chunk; each chunk starts with an empty KV cache")
      ->capture_default_str();
  cmd->add_option("-t,--threads", opts->threads, "Threads (0: one per available core)")->capture_default_str();
  cmd->callback([opts] { run_compare(*opts); });
}

}  // namespace qrag::cli
