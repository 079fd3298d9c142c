// EncoderRegistry: resolves encoder names, loads GGUF encoders once and serialises their use of one pool.
#include "retrieval/encoder_registry.h"

#include <mutex>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/thread_pool.h"
#include "retrieval/embedder_encoder.h"

namespace qrag::retrieval {
namespace {

// The pool that every encoder of one registry runs on. ThreadPool::parallel_for must not
// be called from two threads at once, so every use of the pool locks `mutex`.
struct SharedPool {
  explicit SharedPool(int threads) : pool(threads) {}

  core::ThreadPool pool;
  std::mutex mutex;
  std::size_t n_embedded = 0;  // guarded by mutex
};

// An EmbedderEncoder whose embed() locks the shared pool's mutex.
class LockedEncoder final : public Encoder {
 public:
  // The caller must lock shared->mutex, because loading may run jobs on the pool.
  LockedEncoder(std::shared_ptr<SharedPool> shared, const std::filesystem::path& path,
                const engine::EmbedderOptions& options)
      : shared_(std::move(shared)), encoder_(path, shared_->pool, options) {}

  EmbeddingMatrix embed(std::span<const std::string> texts) override {
    const std::lock_guard lock(shared_->mutex);
    EmbeddingMatrix out = encoder_.embed(texts);
    shared_->n_embedded += texts.size();
    return out;
  }
  std::string model_id() const override { return encoder_.model_id(); }
  std::size_t dim() const override { return encoder_.dim(); }

 private:
  // Declared before encoder_, so the pool outlives the Embedder that borrows it.
  std::shared_ptr<SharedPool> shared_;
  EmbedderEncoder encoder_;
};

std::string list_names(const std::map<std::string, std::filesystem::path>& names) {
  if (names.empty()) return "no names are registered";
  std::string out = "registered names:";
  for (const auto& [name, path] : names) out += " " + name;
  return out;
}

}  // namespace

struct EncoderRegistry::State {
  std::map<std::string, std::filesystem::path> names;
  engine::EmbedderOptions embedder_options;
  std::shared_ptr<SharedPool> shared;
  std::mutex mutex;                                         // guards loaded
  std::map<std::string, std::shared_ptr<Encoder>> loaded;  // key: the file's canonical path

  std::filesystem::path resolve(const std::string& model) const {
    const auto it = names.find(model);
    if (it != names.end()) return it->second;
    std::error_code error;
    if (std::filesystem::is_regular_file(model, error)) return model;
    throw Error(fmt::format("encoder '{}' is neither a registered name ({}) nor an existing file. Give the path "
                            "of a GGUF encoder or register the name with NAME=PATH",
                            model, list_names(names)));
  }

  std::shared_ptr<Encoder> load(const std::string& model) {
    const std::filesystem::path path = resolve(model);
    std::error_code error;
    std::filesystem::path key = std::filesystem::weakly_canonical(path, error);
    if (error) key = std::filesystem::absolute(path);

    const std::lock_guard lock(mutex);
    const auto it = loaded.find(key.string());
    if (it != loaded.end()) return it->second;
    auto encoder = with_context("loading encoder '" + model + "' from " + path.string(), [&] {
      const std::lock_guard pool_lock(shared->mutex);
      return std::make_shared<LockedEncoder>(shared, path, embedder_options);
    });
    spdlog::info("encoder '{}': {} (dim {}, model id {}, {} threads)", model, path.string(), encoder->dim(),
                 encoder->model_id(), shared->pool.size());
    loaded.emplace(key.string(), encoder);
    return encoder;
  }
};

std::pair<std::string, std::filesystem::path> parse_encoder_binding(std::string_view binding) {
  const std::size_t eq = binding.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == binding.size()) {
    throw Error(fmt::format("invalid encoder binding '{}': expected NAME=PATH, e.g. minilm=models/minilm.gguf",
                            binding));
  }
  return {std::string(binding.substr(0, eq)), std::filesystem::path(binding.substr(eq + 1))};
}

EncoderRegistry::EncoderRegistry(std::map<std::string, std::filesystem::path> names, EncoderRegistryOptions options)
    : state_(std::make_shared<State>()) {
  if (options.threads < 1) throw Error(fmt::format("encoder threads must be >= 1, got {}", options.threads));
  for (const auto& [name, path] : names) {
    if (name.empty()) throw Error("encoder name for " + path.string() + " is empty");
  }
  state_->names = std::move(names);
  state_->embedder_options = options.embedder;
  state_->shared = std::make_shared<SharedPool>(options.threads);
}

std::filesystem::path EncoderRegistry::resolve(const std::string& model) const { return state_->resolve(model); }

std::shared_ptr<Encoder> EncoderRegistry::load(const std::string& model) { return state_->load(model); }

RetrieverContext EncoderRegistry::context(std::shared_ptr<EmbeddingCache> cache) const {
  RetrieverContext context;
  context.cache = std::move(cache);
  context.load_encoder = [state = state_](const std::string& model) { return state->load(model); };
  return context;
}

std::size_t EncoderRegistry::n_embedded() const {
  const std::lock_guard lock(state_->shared->mutex);
  return state_->shared->n_embedded;
}

std::size_t EncoderRegistry::n_loaded() const {
  const std::lock_guard lock(state_->mutex);
  return state_->loaded.size();
}

}  // namespace qrag::retrieval
