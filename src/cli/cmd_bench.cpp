// `qrag bench`: prompt-processing and generation speed of GGUF models, in llama-bench's table shape.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/bench_embed.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/synthetic_model.h"
#include "kernels/kernels.h"
#include "model/decoder.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace qrag::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchOptions {
  std::string models;  // comma-separated paths
  std::vector<std::string> synthetic;
  std::string synthetic_dir = (std::filesystem::temp_directory_path() / "qrag-synthetic").string();
  int n_prompt = 512;
  int n_gen = 128;
  int threads = 0;
  int reps = 5;
  int depth = 0;
  int parallel = 1;
  std::int64_t n_batch = 512;
  std::string output = "md";
  bool no_mmap = false;  // read each model into huge-page-advised memory
  bool embed = false;  // time a BERT encoder (bench_embed.h) instead of a decoder
  EmbedBenchOptions embed_options;
};

// One row of the results table.
struct BenchRow {
  std::string model;
  double size_mib = 0;
  double bpw = 0;
  double params_m = 0;
  std::string isa;
  int threads = 0;
  std::string test;
  double median = 0, min = 0, max = 0;  // tokens/s over repetitions
  double load_seconds = 0;
  double kv_mib = 0;
  double weight_gbps = 0;     // generation only: weight bytes read per second
  double bandwidth_gbps = 0;  // measured memory read bandwidth
};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Best-of-3 read bandwidth over a 256 MiB buffer, all pool threads summing their chunks.
double measure_bandwidth_gbps(core::ThreadPool& pool) {
  const std::size_t n = (256u << 20) / sizeof(std::uint64_t);
  std::vector<std::uint64_t> buffer(n);
  std::iota(buffer.begin(), buffer.end(), 0);
  std::vector<std::uint64_t> sums(static_cast<std::size_t>(pool.size()));
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto start = Clock::now();
    pool.parallel_for(n, [&](std::size_t begin, std::size_t end, int thread) {
      std::uint64_t a = 0, b = 0, c = 0, d = 0;
      std::size_t i = begin;
      for (; i + 4 <= end; i += 4) {
        a += buffer[i];
        b += buffer[i + 1];
        c += buffer[i + 2];
        d += buffer[i + 3];
      }
      for (; i < end; ++i) a += buffer[i];
      sums[static_cast<std::size_t>(thread)] = a + b + c + d;
    });
    best = std::max(best, static_cast<double>(n * sizeof(std::uint64_t)) / seconds_since(start) / 1e9);
  }
  spdlog::debug("bandwidth check sum {}", std::accumulate(sums.begin(), sums.end(), std::uint64_t{0}));
  return best;
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

std::vector<std::int32_t> random_tokens(std::int64_t n_vocab, std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::int32_t> tokens(n);
  for (auto& token : tokens) token = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(n_vocab));
  return tokens;
}

// Fills `depth` positions of each of n_seq sequences (untimed), in n_batch chunks.
void fill_depth(model::Decoder& decoder, int n_seq, int depth, std::int64_t n_batch, std::int64_t n_vocab) {
  for (int s = 0; s < n_seq; ++s) {
    decoder.cache().clear(s);
    const auto tokens = random_tokens(n_vocab, static_cast<std::size_t>(depth), 7 + static_cast<std::uint64_t>(s));
    for (std::int64_t begin = 0; begin < depth; begin += n_batch) {
      const auto n = static_cast<std::size_t>(std::min<std::int64_t>(n_batch, depth - begin));
      const model::SequenceInput input{s, std::span(tokens).subspan(static_cast<std::size_t>(begin), n), false};
      decoder.decode({&input, 1});
    }
  }
}

// Seconds to process n_prompt tokens of one sequence in n_batch chunks.
double time_prompt(model::Decoder& decoder, const BenchOptions& opts, std::int64_t n_vocab) {
  fill_depth(decoder, 1, opts.depth, opts.n_batch, n_vocab);
  const auto tokens = random_tokens(n_vocab, static_cast<std::size_t>(opts.n_prompt), 1);
  const auto start = Clock::now();
  for (std::int64_t begin = 0; begin < opts.n_prompt; begin += opts.n_batch) {
    const auto n = static_cast<std::size_t>(std::min<std::int64_t>(opts.n_batch, opts.n_prompt - begin));
    const model::SequenceInput input{0, std::span(tokens).subspan(static_cast<std::size_t>(begin), n), false};
    decoder.decode({&input, 1});
  }
  return seconds_since(start);
}

// Seconds to decode n_gen tokens one step at a time for `parallel` sequences together.
double time_generation(model::Decoder& decoder, const BenchOptions& opts, std::int64_t n_vocab) {
  fill_depth(decoder, opts.parallel, opts.depth, opts.n_batch, n_vocab);
  const auto tokens = random_tokens(n_vocab, static_cast<std::size_t>(opts.n_gen * opts.parallel), 2);
  std::vector<model::SequenceInput> inputs(static_cast<std::size_t>(opts.parallel));
  const auto start = Clock::now();
  for (int step = 0; step < opts.n_gen; ++step) {
    for (int s = 0; s < opts.parallel; ++s) {
      const std::size_t index = static_cast<std::size_t>(step * opts.parallel + s);
      inputs[static_cast<std::size_t>(s)] = {s, std::span(tokens).subspan(index, 1), false};
    }
    decoder.decode(inputs);
  }
  return seconds_since(start);
}

void summarize(std::vector<double> rates, BenchRow& row) {
  std::sort(rates.begin(), rates.end());
  row.min = rates.front();
  row.max = rates.back();
  const std::size_t mid = rates.size() / 2;
  row.median = rates.size() % 2 ? rates[mid] : 0.5 * (rates[mid - 1] + rates[mid]);
}

std::vector<BenchRow> bench_model(const std::string& path, const BenchOptions& opts, core::ThreadPool& pool,
                                  kernels::KernelContext& kernels, double bandwidth) {
  const auto load_start = Clock::now();
  const auto model = model::Model::load(path, opts.no_mmap ? core::MappedFile::Mode::kRead
                                                           : core::MappedFile::Mode::kMmap);
  const double load_seconds = seconds_since(load_start);
  spdlog::info("{}", model->summary());
  const std::int64_t n_vocab = model->hparams().n_vocab;
  const std::int64_t n_ctx = opts.depth + std::max(opts.n_prompt, opts.n_gen) + 1;
  model::KvCache cache(model->hparams(), n_ctx, opts.parallel);
  model::Decoder decoder(*model, cache, kernels);

  BenchRow base;
  base.model = std::filesystem::path(path).filename().string();
  base.size_mib = static_cast<double>(model->weight_bytes()) / (1024.0 * 1024.0);
  base.bpw = model->bits_per_weight();
  base.params_m = static_cast<double>(model->n_params()) / 1e6;
  base.isa = std::string(kernels::isa_name(kernels.isa()));
  base.threads = pool.size();
  base.load_seconds = load_seconds;
  base.kv_mib = static_cast<double>(cache.bytes()) / (1024.0 * 1024.0);
  base.bandwidth_gbps = bandwidth;
  const std::string at_depth = opts.depth > 0 ? fmt::format(" @ d{}", opts.depth) : "";

  std::vector<BenchRow> rows;
  if (opts.n_prompt > 0) {
    time_prompt(decoder, opts, n_vocab);  // warm-up
    std::vector<double> rates;
    for (int r = 0; r < opts.reps; ++r) rates.push_back(opts.n_prompt / time_prompt(decoder, opts, n_vocab));
    BenchRow row = base;
    row.test = fmt::format("pp{}{}", opts.n_prompt, at_depth);
    summarize(rates, row);
    rows.push_back(row);
  }
  if (opts.n_gen > 0) {
    time_generation(decoder, opts, n_vocab);  // warm-up
    std::vector<double> rates;
    const double tokens = static_cast<double>(opts.n_gen) * opts.parallel;
    for (int r = 0; r < opts.reps; ++r) rates.push_back(tokens / time_generation(decoder, opts, n_vocab));
    BenchRow row = base;
    row.test = fmt::format("tg{}{}{}", opts.n_gen, at_depth, opts.parallel > 1 ? fmt::format(" x{}", opts.parallel) : "");
    summarize(rates, row);
    // Weights are read once per step, whatever the number of sequences.
    row.weight_gbps = static_cast<double>(model->bytes_read_per_step()) * row.median / opts.parallel / 1e9;
    rows.push_back(row);
  }
  return rows;
}

void print_json(const std::vector<BenchRow>& rows, double rss_mib) {
  nlohmann::json out = nlohmann::json::array();
  for (const BenchRow& r : rows) {
    out.push_back({{"model", r.model}, {"size_mib", r.size_mib}, {"bits_per_weight", r.bpw},
                   {"params_m", r.params_m}, {"isa", r.isa}, {"threads", r.threads}, {"test", r.test},
                   {"tokens_per_s_median", r.median}, {"tokens_per_s_min", r.min}, {"tokens_per_s_max", r.max},
                   {"load_s", r.load_seconds}, {"kv_cache_mib", r.kv_mib}, {"weight_gb_per_s", r.weight_gbps},
                   {"bandwidth_gb_per_s", r.bandwidth_gbps}, {"peak_rss_mib", rss_mib}});
  }
  fmt::print("{}\n", out.dump(2));
}

void print_header(const std::string& format) {
  if (format == "csv") {
    fmt::print("model,size_mib,bpw,params_m,isa,threads,test,t_s_median,t_s_min,t_s_max,load_s,kv_mib,"
               "weight_gb_s,bandwidth_gb_s,peak_rss_mib\n");
  } else {
    fmt::print("| model | size | bpw | params | isa | threads | test | t/s | min | max | load s | KV "
               "MiB | GB/s (of bw) | RSS MiB |\n| --- | ---: | ---: | ---: | --- | ---: | --- | ---: | "
               "---: | ---: | ---: | ---: | ---: | ---: |\n");
  }
}

// Prints Markdown or CSV rows as soon as a model is done, so long runs show progress.
void print_rows(const std::vector<BenchRow>& rows, const std::string& format, double rss_mib) {
  const bool csv = format == "csv";
  for (const BenchRow& r : rows) {
    const std::string gbps = r.weight_gbps > 0 ? fmt::format("{:.2f} ({:.0f}%)", r.weight_gbps,
                                                             100.0 * r.weight_gbps / r.bandwidth_gbps)
                                               : "";
    if (csv) {
      fmt::print("{},{:.2f},{:.2f},{:.2f},{},{},{},{:.2f},{:.2f},{:.2f},{:.3f},{:.2f},{:.2f},{:.2f},{:.1f}\n", r.model,
                 r.size_mib, r.bpw, r.params_m, r.isa, r.threads, r.test, r.median, r.min, r.max, r.load_seconds,
                 r.kv_mib, r.weight_gbps, r.bandwidth_gbps, rss_mib);
    } else {
      fmt::print("| {} | {:.2f} MiB | {:.2f} | {:.2f} M | {} | {} | {} | {:.2f} | {:.2f} | {:.2f} | {:.3f} | {:.2f} | "
                 "{} | {:.0f} |\n",
                 r.model, r.size_mib, r.bpw, r.params_m, r.isa, r.threads, r.test, r.median, r.min, r.max,
                 r.load_seconds, r.kv_mib, gbps, rss_mib);
    }
  }
  std::fflush(stdout);
}

void run_bench(const BenchOptions& opts) {
  if (opts.reps < 1 || opts.parallel < 1 || opts.n_prompt < 0 || opts.n_gen < 0 || opts.depth < 0) {
    throw Error("bench: -r and --parallel must be >= 1; -p, -n and --depth must be >= 0");
  }
  if (opts.output != "md" && opts.output != "csv" && opts.output != "json") {
    throw Error(fmt::format("bench: unknown output format '{}' (md, csv or json)", opts.output));
  }
  std::vector<std::string> paths;
  std::stringstream list(opts.models);
  for (std::string item; std::getline(list, item, ',');) {
    if (!item.empty()) paths.push_back(item);
  }
  const int threads = opts.threads > 0 ? opts.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (opts.embed) {
    if (!opts.synthetic.empty()) throw Error("bench --embed: --synthetic makes decoders, which cannot embed");
    EmbedBenchOptions embed_options = opts.embed_options;
    embed_options.models = paths;
    embed_options.threads = threads;
    embed_options.reps = opts.reps;
    embed_options.output = opts.output;
    run_embed_bench(embed_options);
    return;
  }
  for (const std::string& spec : opts.synthetic) {
    paths.push_back(engine::write_synthetic_model(engine::parse_synthetic_spec(spec), opts.synthetic_dir).string());
  }
  if (paths.empty()) throw Error("bench: give -m MODEL[,MODEL...] or --synthetic SHAPE:TYPE");

  core::ThreadPool pool(threads);
  kernels::KernelContext kernels(pool);
  const double bandwidth = measure_bandwidth_gbps(pool);
  spdlog::info("measured memory read bandwidth: {:.2f} GB/s with {} threads", bandwidth, threads);
  // JSON is one document, so it is printed at the end; tables print a model's rows when
  // that model is done. The RSS column is the process peak so far.
  if (opts.output != "json") print_header(opts.output);
  std::vector<BenchRow> rows;
  for (const std::string& path : paths) {
    auto model_rows = bench_model(path, opts, pool, kernels, bandwidth);
    if (opts.output != "json") print_rows(model_rows, opts.output, peak_rss_mib());
    rows.insert(rows.end(), model_rows.begin(), model_rows.end());
  }
  if (opts.output == "json") print_json(rows, peak_rss_mib());
}

}  // namespace

void register_bench(CLI::App& app, const GlobalOptions& /*options*/) {
  auto* cmd = app.add_subcommand("bench", "Measure prompt-processing and generation speed (llama-bench style)");
  auto opts = std::make_shared<BenchOptions>();
  cmd->add_option("-m,--model", opts->models, "GGUF model file(s), comma-separated");
  cmd->add_option("--synthetic", opts->synthetic,
                  "Random-weight model SHAPE:TYPE, e.g. smollm2-135m:q4_0 (types f32, f16, q8_0, q4_0, q4_1, q4_k_m)");
  cmd->add_option("--synthetic-dir", opts->synthetic_dir, "Folder where synthetic models are written and reused")
      ->capture_default_str();
  cmd->add_option("-p,--n-prompt", opts->n_prompt, "Prompt tokens per prompt-processing test (0: skip)")
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", opts->n_gen, "Generated tokens per generation test (0: skip)")->capture_default_str();
  cmd->add_option("-t,--threads", opts->threads, "Threads (0: one per available core)")->capture_default_str();
  cmd->add_option("-r,--repetitions", opts->reps, "Repetitions of each test")->capture_default_str();
  cmd->add_option("--depth", opts->depth, "Tokens already in the KV cache before each test")->capture_default_str();
  cmd->add_option("--parallel", opts->parallel, "Sequences decoded together in the generation test")
      ->capture_default_str();
  cmd->add_option("--batch", opts->n_batch, "Prompt tokens per forward pass")->capture_default_str();
  cmd->add_option("-o,--output", opts->output, "Output format: md, csv or json")->capture_default_str();
  cmd->add_flag("--no-mmap", opts->no_mmap,
                "Read each model into memory advised for huge pages instead of mapping its file");
  cmd->add_flag("--embed", opts->embed,
                "Measure documents embedded per second by the -m GGUF BERT encoders instead of generation speed");
  cmd->add_option("--texts", opts->embed_options.texts_path, "With --embed: documents to embed, one per line");
  cmd->add_option("--questions", opts->embed_options.questions_path,
                  "With --embed: a LaMP questions file whose profile documents are embedded");
  cmd->add_option("--task", opts->embed_options.task, "With --questions: the LaMP task, which sets the document fields")
      ->capture_default_str();
  cmd->add_option("--n-texts", opts->embed_options.n_texts, "With --embed: documents per repetition (the first N)")
      ->capture_default_str();
  cmd->add_option("--embed-batch", opts->embed_options.batch, "With --embed: texts per embedding call")
      ->capture_default_str();
  cmd->callback([opts] { run_bench(*opts); });
}

}  // namespace qrag::cli
