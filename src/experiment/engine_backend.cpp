// CellBackend on engine::Generator: tokenizes a rendered prompt, generates, records cost and the first-step distribution.
#include "experiment/engine_backend.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "engine/generator.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace qrag::experiment {
namespace {

std::int64_t peak_resident_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

double rate(std::int64_t tokens, double seconds) {
  return seconds > 0.0 ? static_cast<double>(tokens) / seconds : 0.0;
}

}  // namespace

std::int64_t resolve_context(std::int64_t n_ctx_train, const EngineBackendOptions& options) {
  if (options.n_ctx > 0) return options.n_ctx;
  return n_ctx_train > 0 ? std::min(n_ctx_train, kDefaultMaxContext) : kDefaultMaxContext;
}

// One loaded model with its tokenizer, kernels and generator (sequence 0 only).
class EngineBackendProvider::Loaded final : public CellBackend {
 public:
  Loaded(const std::filesystem::path& file, core::ThreadPool& pool, const EngineBackendOptions& options)
      : model_(model::Model::load(file, options.no_mmap ? core::MappedFile::Mode::kRead
                                                        : core::MappedFile::Mode::kMmap)),
        tokenizer_(tokenizer::Tokenizer::from_gguf(model_->file())),
        kernels_(pool),
        reuse_prefix_(options.reuse_prefix) {
    engine::GeneratorOptions generator_options;
    generator_options.n_ctx = resolve_context(model_->hparams().n_ctx_train, options);
    generator_options.n_batch = options.n_batch;
    generator_options.n_seq = std::max(1, options.batch);
    generator_ = std::make_unique<engine::Generator>(*model_, tokenizer_, kernels_, generator_options);
    bytes_per_position_ = generator_->cache().bytes() /
                          static_cast<std::size_t>(generator_options.n_ctx * generator_options.n_seq);
    spdlog::info("{}", model_->summary());
    spdlog::info("ISA {}, {} threads, n_ctx {}, {} sequences, KV cache {:.1f} MiB, prefix reuse {}",
                 kernels::isa_name(kernels_.isa()), pool.size(), generator_options.n_ctx, generator_options.n_seq,
                 static_cast<double>(generator_->cache().bytes()) / (1024.0 * 1024.0), reuse_prefix_ ? "on" : "off");
  }

  std::size_t count_tokens(std::string_view text) override { return tokenizer_.encode(text, true, true).size(); }
  std::size_t context_length() const override { return static_cast<std::size_t>(generator_->options().n_ctx); }

  GenerationResult generate(const GenerationRequest& request) override {
    // Special-token text is parsed, as lamp::TokenizerCounter::count_prompt counts it.
    const std::vector<std::int32_t> tokens = tokenizer_.encode(request.prompt, true, true);
    if (!reuse_prefix_) generator_->reset_sequence(0);

    GenerationResult result;
    const auto start = std::chrono::steady_clock::now();
    const auto on_logits = [&](int step, std::int32_t /*token*/, std::span<const float> logits) {
      if (step != 0) return;
      result.ttft_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      result.first_step = make_topk_record(logits, request.top_logprobs);
    };
    const engine::GenerationResult generated =
        generator_->generate(tokens, generation_params(request), {}, on_logits);
    fill_result(generated, static_cast<std::int64_t>(tokens.size()), result);
    return result;
  }

  // Prompts are evaluated one after another (each reusing its slot's cached prefix),
  // then all sequences decode together, one forward pass per step. A row's TTFT is the
  // time from the call until its own prompt is evaluated, and its decode rate is its
  // tokens over the shared decode time.
  std::vector<GenerationResult> generate_batch(std::span<const GenerationRequest> requests,
                                               std::span<const int> slots) override {
    if (requests.empty()) return {};
    std::vector<std::vector<std::int32_t>> prompts;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      prompts.push_back(tokenizer_.encode(requests[i].prompt, true, true));
      if (!reuse_prefix_) generator_->reset_sequence(slots[i]);
    }
    const engine::GenerationParams params = generation_params(requests.front());
    std::vector<GenerationResult> results(requests.size());
    const auto start = std::chrono::steady_clock::now();
    const auto on_prompt_logits = [&](std::size_t index, std::span<const float> logits) {
      results[index].ttft_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      results[index].first_step = make_topk_record(logits, requests[index].top_logprobs);
    };
    const std::vector<engine::GenerationResult> generated =
        generator_->generate_batch(prompts, params, slots, on_prompt_logits);
    for (std::size_t i = 0; i < requests.size(); ++i) {
      fill_result(generated[i], static_cast<std::int64_t>(prompts[i].size()), results[i]);
    }
    return results;
  }

  const PrefillCounts& counts() const { return counts_; }

 private:
  static engine::GenerationParams generation_params(const GenerationRequest& request) {
    engine::GenerationParams params;
    params.max_new_tokens = request.decoding.max_new_tokens;
    params.sampling = {static_cast<float>(request.decoding.temperature), request.decoding.top_k,
                       static_cast<float>(request.decoding.top_p), static_cast<float>(request.decoding.min_p),
                       request.seed};
    params.stop = request.decoding.stop;
    return params;
  }

  // Copies text, token counts, rates and memory of one generation into `result`.
  void fill_result(const engine::GenerationResult& generated, std::int64_t prompt_tokens, GenerationResult& result) {
    const engine::Timings& timings = generated.timings;
    result.text = generated.text;
    result.prompt_tokens = prompt_tokens;
    result.reused_prompt_tokens = timings.n_reused;
    result.generated_tokens = static_cast<std::int64_t>(generated.tokens.size());
    result.prefill_tokens_per_s = rate(timings.n_prompt, timings.prompt_seconds);
    result.decode_tokens_per_s = rate(timings.n_generated, timings.generate_seconds);
    result.peak_memory_bytes = peak_resident_bytes();
    const auto positions = static_cast<std::size_t>(prompt_tokens + timings.n_generated);
    result.kv_cache_bytes = static_cast<std::int64_t>(positions * bytes_per_position_);
    counts_.computed += timings.n_prompt;
    counts_.reused += timings.n_reused;
  }

  std::unique_ptr<model::Model> model_;
  tokenizer::Tokenizer tokenizer_;
  kernels::KernelContext kernels_;
  std::unique_ptr<engine::Generator> generator_;
  std::size_t bytes_per_position_ = 0;  // K and V bytes of one position over all layers
  bool reuse_prefix_;
  PrefillCounts counts_;
};

EngineBackendProvider::EngineBackendProvider(const ExperimentConfig& config, ModelFiles& files,
                                             core::ThreadPool& pool, EngineBackendOptions options)
    : config_(&config), files_(&files), pool_(&pool), options_(options) {}

EngineBackendProvider::~EngineBackendProvider() = default;

const ModelConfig& EngineBackendProvider::find_model(const std::string& name) const {
  for (const ModelConfig& model : config_->models) {
    if (model.name == name) return model;
  }
  throw Error(fmt::format("model '{}' is not in the experiment config", name));
}

std::string EngineBackendProvider::model_hash(const std::string& model, const std::string& precision) {
  return files_->file_hash(files_->llm_file(find_model(model), precision));
}

CellBackend& EngineBackendProvider::backend(const std::string& model, const std::string& precision) {
  const std::string key = model + "\n" + precision;
  if (loaded_ != nullptr && loaded_key_ == key) return *loaded_;
  if (loaded_ != nullptr) {
    finished_.computed += loaded_->counts().computed;
    finished_.reused += loaded_->counts().reused;
    loaded_.reset();
  }
  const std::filesystem::path file = files_->llm_file(find_model(model), precision);
  spdlog::info("loading model '{}' at precision {} from {}", model, precision, file.string());
  loaded_ = std::make_unique<Loaded>(file, *pool_, options_);
  loaded_key_ = key;
  return *loaded_;
}

PrefillCounts EngineBackendProvider::prefill_counts() const {
  PrefillCounts total = finished_;
  if (loaded_ != nullptr) {
    total.computed += loaded_->counts().computed;
    total.reused += loaded_->counts().reused;
  }
  return total;
}

}  // namespace qrag::experiment
