// `qrag embed -m MODEL TEXT...`: sentence embeddings from a GGUF BERT encoder, as JSON lines or a .npy matrix.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/converter.h"
#include "engine/embedder.h"

namespace qrag::cli {
namespace {

struct EmbedCliOptions {
  std::string model_path;
  std::string pooling;
  bool no_normalize = false;
  std::string out_path;
  std::vector<std::string> texts;
  std::int64_t max_tokens = 0;
  int threads = 0;
};

// Writes a float32 C-order .npy file (format version 1.0) of shape [rows][dim].
void write_npy(const std::string& path, const std::vector<float>& values, std::size_t rows, std::size_t dim) {
  std::string header = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", rows, dim);
  // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(fmt::format("{}: failed to open for writing; check the folder exists and is writable", path));
  out.write("\x93NUMPY\x01\x00", 8);
  const auto len = static_cast<std::uint16_t>(header.size());
  const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(len_bytes, 2);
  out << header;
  out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(float)));
  if (!out) throw Error(fmt::format("{}: write failed", path));
}

std::string jsonl(const std::vector<std::string>& texts, const std::vector<float>& values, std::size_t dim) {
  std::string s;
  for (std::size_t r = 0; r < texts.size(); ++r) {
    nlohmann::json line = {{"text", texts[r]},
                           {"embedding", std::vector<float>(values.begin() + r * dim, values.begin() + (r + 1) * dim)}};
    s += line.dump() + "\n";
  }
  return s;
}

void run_embed(const EmbedCliOptions& opts, int threads) {
  engine::EmbedderOptions options;
  if (!opts.pooling.empty()) {
    options.pooling = static_cast<model::BertPooling>(engine::parse_pooling(opts.pooling));
  }
  options.normalize = !opts.no_normalize;
  options.max_tokens = opts.max_tokens;
  const int n_threads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  core::ThreadPool pool(n_threads);
  engine::Embedder embedder(opts.model_path, pool, options);
  const std::vector<float> values = embedder.embed(opts.texts);

  if (opts.out_path.empty()) {
    fmt::print("{}", jsonl(opts.texts, values, embedder.dim()));
  } else if (opts.out_path.ends_with(".npy")) {
    write_npy(opts.out_path, values, opts.texts.size(), embedder.dim());
  } else if (opts.out_path.ends_with(".jsonl")) {
    std::ofstream out(opts.out_path);
    out << jsonl(opts.texts, values, embedder.dim());
    if (!out) throw Error(fmt::format("{}: write failed", opts.out_path));
  } else {
    throw Error(fmt::format("--out {}: expected a .npy or .jsonl file name", opts.out_path));
  }
}

}  // namespace

void register_embed(CLI::App& app, const GlobalOptions& global) {
  auto options = std::make_shared<EmbedCliOptions>();
  auto* cmd = app.add_subcommand("embed", "Print sentence embeddings of texts from a GGUF BERT encoder");
  cmd->add_option("-m,--model", options->model_path, "GGUF encoder (from qrag convert)")->required();
  cmd->add_option("--pooling", options->pooling, "mean, cls or last (default: bert.pooling_type of the model)");
  cmd->add_flag("--no-normalize", options->no_normalize, "Do not L2-normalise the embeddings");
  cmd->add_option("--max-tokens", options->max_tokens,
                  "Truncate each text to this many tokens including [CLS] and [SEP] (default: context length)");
  cmd->add_option("--out", options->out_path, "Write a .npy float32 matrix or .jsonl file instead of JSON lines on stdout");
  cmd->add_option("-t,--threads", options->threads, "Threads (0: the global setting, else one per core)");
  cmd->add_option("texts", options->texts, "Texts to embed")->required();
  cmd->callback([options, &global] { run_embed(*options, options->threads > 0 ? options->threads : global.threads); });
}

}  // namespace qrag::cli
