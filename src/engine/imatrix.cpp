// Importance matrix: per weight tensor, the mean squared activation entering each column; its collection and GGUF file.
#include "engine/imatrix.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/decoder.h"
#include "model/kv_cache.h"

namespace qrag::engine {
namespace {

constexpr std::string_view kTypeKey = "general.type";
constexpr std::string_view kTypeValue = "imatrix";
constexpr std::string_view kDatasetKey = "qrag.imatrix.dataset";
constexpr std::string_view kTokensKey = "qrag.imatrix.n_tokens";
constexpr std::string_view kCountsKey = "qrag.imatrix.counts";

std::vector<float> read_entry(const gguf::GgufFile& file, const gguf::TensorInfo& info) {
  if (info.type != gguf::GgmlType::F32 || info.n_dims != 1) {
    throw Error(fmt::format("tensor '{}': expected an F32 1-D tensor, found {} with {} dimensions", info.name,
                            gguf::type_name(info.type), info.n_dims));
  }
  std::vector<float> values(static_cast<std::size_t>(info.ne[0]));
  const auto bytes = file.tensor_data(info);
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  for (std::size_t j = 0; j < values.size(); ++j) {
    if (!std::isfinite(values[j]) || values[j] < 0.0f) {
      throw Error(fmt::format("tensor '{}': column {}: invalid importance {} (expected finite and >= 0)",
                              info.name, j, values[j]));
    }
  }
  return values;
}

}  // namespace

Imatrix Imatrix::load(const std::filesystem::path& path) {
  return with_context("reading importance matrix " + path.string(), [&] {
    const gguf::GgufFile file = gguf::GgufFile::open(path);
    // llama.cpp's GGUF importance files store sums and counts per weight as
    // "<weight>.in_sum2" and "<weight>.counts". Their names match no weight, so
    // loading one would silently quantize every matrix unweighted.
    for (const gguf::TensorInfo& info : file.tensors()) {
      if (info.name.ends_with(".in_sum2")) {
        throw Error(fmt::format("tensor '{}': this is a llama.cpp importance matrix, which qrag does not read. "
                                "Collect one with `qrag imatrix`",
                                info.name));
      }
    }
    const auto type = file.find_string(kTypeKey);
    if (type != kTypeValue) {
      throw Error(fmt::format("{} is '{}', expected '{}' (write the file with `qrag imatrix`)", kTypeKey,
                              type.value_or("<missing>"), kTypeValue));
    }
    Imatrix imatrix;
    imatrix.dataset = file.find_string(kDatasetKey).value_or("");
    imatrix.n_tokens = file.find_uint(kTokensKey).value_or(0);
    std::vector<std::int64_t> counts;
    if (file.find(kCountsKey) != nullptr) counts = file.get_int_array(kCountsKey);
    if (!counts.empty() && counts.size() != file.tensors().size()) {
      throw Error(fmt::format("{} has {} items but the file has {} tensors", kCountsKey, counts.size(),
                              file.tensors().size()));
    }
    for (std::size_t i = 0; i < file.tensors().size(); ++i) {
      const gguf::TensorInfo& info = file.tensors()[i];
      imatrix.values.emplace(info.name, read_entry(file, info));
      if (!counts.empty()) {
        if (counts[i] < 0) throw Error(fmt::format("{}[{}] is negative: {}", kCountsKey, i, counts[i]));
        imatrix.counts.emplace(info.name, static_cast<std::uint64_t>(counts[i]));
      }
    }
    return imatrix;
  });
}

void Imatrix::save(const std::filesystem::path& path) const {
  with_context("writing importance matrix " + path.string(), [&] {
    gguf::GgufWriter writer;
    writer.add_metadata(std::string(kTypeKey), gguf::Value{std::string(kTypeValue)});
    writer.add_metadata(std::string(kDatasetKey), gguf::Value{dataset});
    writer.add_metadata(std::string(kTokensKey), gguf::Value{n_tokens});
    gguf::Array count_array{gguf::ValueType::UINT64, {}};
    for (const auto& [name, column_values] : values) {
      const auto count = counts.find(name);
      count_array.items.push_back(gguf::Value{count == counts.end() ? std::uint64_t{0} : count->second});
      const std::int64_t n_cols = static_cast<std::int64_t>(column_values.size());
      writer.add_tensor(name, gguf::GgmlType::F32, std::span<const std::int64_t>(&n_cols, 1));
    }
    writer.add_metadata(std::string(kCountsKey), gguf::Value{std::move(count_array)});
    writer.write_file(path, [&](const gguf::TensorInfo& info, gguf::ByteSink& out) {
      const std::vector<float>& column_values = values.find(info.name)->second;
      out.write({reinterpret_cast<const std::uint8_t*>(column_values.data()), column_values.size() * sizeof(float)});
    });
  });
}

const std::vector<float>* Imatrix::find(std::string_view weight_name) const {
  const auto it = values.find(weight_name);
  return it == values.end() ? nullptr : &it->second;
}

void ImatrixCollector::observe(std::string_view weight_name, const float* x, std::int64_t n_rows,
                               std::int64_t n_cols) {
  if (n_rows <= 0) return;
  auto it = sums_.find(weight_name);
  if (it == sums_.end()) {
    it = sums_.emplace(std::string(weight_name), Sums{std::vector<double>(static_cast<std::size_t>(n_cols), 0.0), 0})
             .first;
  } else if (static_cast<std::int64_t>(it->second.sum_sq.size()) != n_cols) {
    throw Error(fmt::format("tensor '{}': activation rows have {} columns, earlier ones had {}", weight_name, n_cols,
                            it->second.sum_sq.size()));
  }
  std::vector<double>& sum_sq = it->second.sum_sq;
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const float* row = x + r * n_cols;
    for (std::int64_t j = 0; j < n_cols; ++j) {
      if (!std::isfinite(row[j])) {
        throw Error(fmt::format("tensor '{}': activation row {} column {} is {}", weight_name, r, j, row[j]));
      }
      sum_sq[static_cast<std::size_t>(j)] += static_cast<double>(row[j]) * row[j];
    }
  }
  it->second.n_rows += static_cast<std::uint64_t>(n_rows);
}

Imatrix ImatrixCollector::result(std::string dataset) const {
  Imatrix imatrix;
  imatrix.dataset = std::move(dataset);
  imatrix.n_tokens = n_tokens_;
  for (const auto& [name, sums] : sums_) {
    std::vector<float> mean(sums.sum_sq.size());
    for (std::size_t j = 0; j < mean.size(); ++j) {
      mean[j] = static_cast<float>(sums.sum_sq[j] / static_cast<double>(sums.n_rows));
    }
    imatrix.values.emplace(name, std::move(mean));
    imatrix.counts.emplace(name, sums.n_rows);
  }
  return imatrix;
}

namespace {

// The text cut into chunks of at most n_ctx tokens, each led by BOS when the
// vocabulary requests it. At most max_chunks chunks (0: all).
std::vector<std::vector<std::int32_t>> make_chunks(const tokenizer::Tokenizer& tokenizer, std::string_view text,
                                                   std::int64_t n_ctx, std::int64_t max_chunks) {
  const std::vector<std::int32_t> tokens = tokenizer.encode(text, /*add_special=*/false, /*parse_special=*/false);
  if (tokens.empty()) throw Error("the calibration text has no tokens; give a non-empty text file");
  const bool with_bos = tokenizer.add_bos() && tokenizer.bos() >= 0;
  const auto per_chunk = static_cast<std::size_t>(n_ctx - (with_bos ? 1 : 0));  // text tokens per chunk

  std::vector<std::vector<std::int32_t>> chunks;
  for (std::size_t start = 0; start < tokens.size(); start += per_chunk) {
    if (max_chunks > 0 && static_cast<std::int64_t>(chunks.size()) == max_chunks) break;
    std::vector<std::int32_t>& chunk = chunks.emplace_back();
    if (with_bos) chunk.push_back(tokenizer.bos());
    const std::size_t end = std::min(start + per_chunk, tokens.size());
    chunk.insert(chunk.end(), tokens.begin() + static_cast<std::ptrdiff_t>(start),
                 tokens.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return chunks;
}

}  // namespace

Imatrix collect_imatrix(const model::Model& model, const tokenizer::Tokenizer& tokenizer, std::string_view text,
                        const ImatrixOptions& options, kernels::KernelContext& kernels, std::string dataset) {
  if (options.n_ctx < 2) throw Error(fmt::format("invalid --ctx {}: expected at least 2 tokens", options.n_ctx));
  if (options.n_chunks < 0) throw Error(fmt::format("invalid --chunks {}: expected >= 0", options.n_chunks));
  if (options.n_batch < 1) throw Error(fmt::format("invalid batch size {}: expected >= 1", options.n_batch));
  const std::int64_t n_ctx_train = model.hparams().n_ctx_train;
  if (n_ctx_train > 0 && options.n_ctx > n_ctx_train) {
    spdlog::warn("imatrix: --ctx {} exceeds the model's training context {}, so later positions are out "
                 "of distribution", options.n_ctx, n_ctx_train);
  }
  const auto chunks = make_chunks(tokenizer, text, options.n_ctx, options.n_chunks);

  model::KvCache cache(model.hparams(), options.n_ctx, 1);
  model::Decoder decoder(model, cache, kernels);
  ImatrixCollector collector;
  decoder.set_matmul_observer(&collector);
  const auto started = std::chrono::steady_clock::now();
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    const std::vector<std::int32_t>& chunk = chunks[c];
    cache.clear(0);
    for (std::size_t start = 0; start < chunk.size(); start += static_cast<std::size_t>(options.n_batch)) {
      const std::size_t end = std::min(start + static_cast<std::size_t>(options.n_batch), chunk.size());
      const model::SequenceInput input{0, std::span(chunk).subspan(start, end - start), /*all_logits=*/true};
      decoder.decode(std::span(&input, 1));
    }
    collector.add_tokens(chunk.size());
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
    spdlog::info("imatrix: chunk {}/{} ({} tokens), {:.1f} s elapsed, about {:.1f} s left", c + 1, chunks.size(),
                 chunk.size(), elapsed.count(),
                 elapsed.count() / static_cast<double>(c + 1) * static_cast<double>(chunks.size() - c - 1));
  }
  return collector.result(std::move(dataset));
}

}  // namespace qrag::engine
