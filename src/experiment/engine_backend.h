// The runner's backend on qrag's own engine: one loaded GGUF model at a time, with prefix reuse.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "experiment/config.h"
#include "experiment/model_files.h"
#include "experiment/runner.h"

namespace qrag::core {
class ThreadPool;
}

namespace qrag::experiment {

struct EngineBackendOptions {
  // KV cache positions; 0 = the model's training context, at most kDefaultMaxContext.
  std::int64_t n_ctx = 0;
  std::int64_t n_batch = 512;  // prompt tokens per forward pass
  // Keep each prompt's KV cache so that the next prompt evaluates only what differs
  // after their common token prefix. Off evaluates every prompt from its first token.
  bool reuse_prefix = true;
  // Questions generated together, one KV-cache sequence each (see run_grid). Each adds
  // n_ctx positions of KV cache.
  int batch = 4;
  // Read each model into huge-page-advised memory instead of mapping its file
  // (core::MappedFile::Mode::kRead): fewer TLB misses while decoding, at the
  // cost of a private copy of the weights.
  bool no_mmap = false;
};

inline constexpr std::int64_t kDefaultMaxContext = 4096;

// The context length a model runs with under `options` (see EngineBackendOptions::n_ctx).
std::int64_t resolve_context(std::int64_t n_ctx_train, const EngineBackendOptions& options);

// Prompt tokens a backend evaluated and took from its cache, summed over generate() calls.
struct PrefillCounts {
  std::int64_t computed = 0;
  std::int64_t reused = 0;
};

// BackendProvider over ModelFiles and the engine's Generator. Keeps one (model,
// precision) loaded; asking for another unloads it first, so memory stays at one
// model. Borrows `config`, `files` and `pool`, which must outlive it. Not thread-safe.
class EngineBackendProvider final : public BackendProvider {
 public:
  EngineBackendProvider(const ExperimentConfig& config, ModelFiles& files, core::ThreadPool& pool,
                        EngineBackendOptions options);
  ~EngineBackendProvider() override;

  std::string model_hash(const std::string& model, const std::string& precision) override;
  CellBackend& backend(const std::string& model, const std::string& precision) override;
  std::size_t batch_size() const override { return static_cast<std::size_t>(options_.batch); }

  // Totals over every backend this provider has loaded.
  PrefillCounts prefill_counts() const;

 private:
  class Loaded;
  const ModelConfig& find_model(const std::string& name) const;

  const ExperimentConfig* config_;
  ModelFiles* files_;
  core::ThreadPool* pool_;
  EngineBackendOptions options_;
  std::unique_ptr<Loaded> loaded_;
  std::string loaded_key_;
  PrefillCounts finished_;  // counts of backends already unloaded
};

}  // namespace qrag::experiment
