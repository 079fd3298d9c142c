// `qrag generate`: loads a GGUF model and streams a completion of a prompt or a chat message.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/generator.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace qrag::cli {
namespace {

struct GenerateOptions {
  std::string model_path;
  std::string prompt;
  std::string chat;
  std::string system;
  std::string chat_template;
  std::vector<std::string> stop;
  int n_predict = 128;
  float temperature = 0.0f;
  std::uint64_t seed = 42;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  std::int64_t n_ctx = 0;
  std::int64_t n_batch = 512;
  int threads = 0;
  bool timings = false;
  bool no_mmap = false;
};

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// The chat template named by --chat-template, else the one detected from the model's metadata, else the
// architecture's default (gemma3: gemma, qwen2: chatml).
tokenizer::ChatTemplate resolve_chat_template(const model::Model& model, const std::string& name) {
  if (!name.empty()) return tokenizer::parse_chat_template_name(name);
  const auto jinja = model.file().find_string("tokenizer.chat_template");
  const std::string_view arch_default = model.arch().default_chat_template;
  if (!jinja && !arch_default.empty()) {
    spdlog::info("the model has no tokenizer.chat_template; using the {} default '{}'", model.arch().name,
                 arch_default);
    return tokenizer::parse_chat_template_name(arch_default);
  }
  if (!jinja) {
    throw Error("the model has no tokenizer.chat_template; name one with --chat-template (e.g. chatml)");
  }
  const auto detected = tokenizer::detect_chat_template(*jinja);
  if (!detected) {
    throw Error("the model's chat template is not a known family; name one with --chat-template (e.g. chatml)");
  }
  return *detected;
}

std::string build_prompt_text(const model::Model& model, const GenerateOptions& opts) {
  if (opts.chat.empty()) return opts.prompt;
  const tokenizer::ChatTemplate tmpl = resolve_chat_template(model, opts.chat_template);
  std::vector<tokenizer::ChatMessage> messages;
  if (!opts.system.empty()) messages.push_back({"system", opts.system});
  messages.push_back({"user", opts.chat});
  spdlog::info("chat template: {}", tokenizer::chat_template_name(tmpl));
  return tokenizer::render_chat(tmpl, messages, true);
}

// --ctx 0: the training context, capped at 4096 positions to bound the KV cache.
std::int64_t resolve_n_ctx(const model::Model& model, std::int64_t requested) {
  if (requested > 0) return requested;
  const std::int64_t train = model.hparams().n_ctx_train;
  return train > 0 ? std::min<std::int64_t>(train, 4096) : 4096;
}

void print_timings(const engine::Timings& t) {
  const double pp = t.prompt_seconds > 0 ? static_cast<double>(t.n_prompt) / t.prompt_seconds : 0.0;
  const double tg = t.generate_seconds > 0 ? static_cast<double>(t.n_generated) / t.generate_seconds : 0.0;
  fmt::print(stderr, "prompt: {} tokens in {:.3f} s ({:.1f} tokens/s), {} reused from the cache\n", t.n_prompt,
             t.prompt_seconds, pp, t.n_reused);
  fmt::print(stderr, "generation: {} tokens in {:.3f} s ({:.1f} tokens/s)\n", t.n_generated, t.generate_seconds, tg);
}

void run_generate(const GenerateOptions& opts) {
  if (opts.prompt.empty() == opts.chat.empty()) throw Error("give exactly one of -p/--prompt and --chat");
  if (!opts.system.empty() && opts.chat.empty()) throw Error("--system needs --chat");

  const auto load_start = std::chrono::steady_clock::now();
  const auto model = model::Model::load(opts.model_path, opts.no_mmap ? core::MappedFile::Mode::kRead
                                                                      : core::MappedFile::Mode::kMmap);
  const auto tokenizer = tokenizer::Tokenizer::from_gguf(model->file());
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  spdlog::info("{}", model->summary());

  const int threads = resolve_threads(opts.threads);
  core::ThreadPool pool(threads);
  kernels::KernelContext kernels(pool);
  engine::GeneratorOptions gen_options;
  gen_options.n_ctx = resolve_n_ctx(*model, opts.n_ctx);
  gen_options.n_batch = opts.n_batch;
  engine::Generator generator(*model, tokenizer, kernels, gen_options);
  spdlog::info("ISA {}, {} threads, n_ctx {}, n_batch {}, KV cache {:.1f} MiB, loaded in {:.2f} s",
               kernels::isa_name(kernels.isa()), threads, gen_options.n_ctx, gen_options.n_batch,
               static_cast<double>(generator.cache().bytes()) / (1024.0 * 1024.0), load_seconds);

  const std::string text = build_prompt_text(*model, opts);
  const bool chat = !opts.chat.empty();
  const std::vector<std::int32_t> prompt = tokenizer.encode(text, true, chat);
  spdlog::debug("prompt: {} tokens", prompt.size());

  engine::GenerationParams params;
  params.max_new_tokens = opts.n_predict;
  params.sampling = {opts.temperature, opts.top_k, opts.top_p, opts.min_p, opts.seed};
  params.stop = opts.stop;
  const auto result = generator.generate(prompt, params, [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  spdlog::debug("stopped: {}", engine::stop_reason_name(result.stop_reason));
  if (opts.timings) print_timings(result.timings);
}

}  // namespace

void register_generate(CLI::App& app, const GlobalOptions& /*options*/) {
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt or a chat message with a GGUF model");
  auto opts = std::make_shared<GenerateOptions>();
  cmd->add_option("-m,--model", opts->model_path, "GGUF model file")->required();
  cmd->add_option("-p,--prompt", opts->prompt, "Prompt text, tokenized with BOS as the vocabulary asks");
  cmd->add_option("--chat", opts->chat, "User message, rendered with the model's chat template");
  cmd->add_option("--system", opts->system, "System message for --chat");
  cmd->add_option("--chat-template", opts->chat_template,
                  "Chat template family (chatml, llama2, llama3, ...); default: detected from the model");
  cmd->add_option("-n,--n-predict", opts->n_predict, "Maximum number of new tokens")->capture_default_str();
  cmd->add_option("--temp", opts->temperature, "Sampling temperature; 0 is greedy decoding")
      ->capture_default_str();
  cmd->add_option("--seed", opts->seed, "Seed of the sampler's random generator")->capture_default_str();
  cmd->add_option("--top-k", opts->top_k, "Keep the K most likely tokens (0: all)")->capture_default_str();
  cmd->add_option("--top-p", opts->top_p, "Nucleus sampling mass (1: off)")->capture_default_str();
  cmd->add_option("--min-p", opts->min_p, "Drop tokens below this fraction of the top probability (0: off)")
      ->capture_default_str();
  cmd->add_option("--stop", opts->stop, "Stop string (repeatable); the output ends before it");
  cmd->add_option("--ctx", opts->n_ctx, "KV cache size in tokens (0: the training context, at most 4096)")
      ->capture_default_str();
  cmd->add_option("--batch", opts->n_batch, "Prompt tokens per forward pass")->capture_default_str();
  cmd->add_option("-t,--threads", opts->threads, "Threads (0: one per available core)")->capture_default_str();
  cmd->add_flag("--no-mmap", opts->no_mmap,
                "Read the model into memory advised for huge pages instead of mapping its file");
  cmd->add_flag("-v,--verbose,--timings", opts->timings, "Print timings at the end and log at debug level");
  cmd->callback([opts] {
    if (opts->timings) spdlog::set_level(spdlog::level::debug);
    run_generate(*opts);
  });
}

}  // namespace qrag::cli
