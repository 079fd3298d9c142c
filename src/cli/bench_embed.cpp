// `qrag bench --embed`: times engine::Embedder over real documents in retrieval-sized batches.
#include "cli/bench_embed.h"

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <span>

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/embedder.h"
#include "kernels/kernels.h"
#include "lamp/dataset.h"
#include "lamp/query.h"
#include "lamp/task.h"

namespace qrag::cli {
namespace {

using Clock = std::chrono::steady_clock;

// One model's results, with rates over repetitions.
struct EmbedRow {
  std::string model;
  double size_mib = 0;
  std::string isa;
  int threads = 0;
  std::size_t n_texts = 0;
  std::size_t n_tokens = 0;  // after truncation, [CLS] and [SEP] included
  double docs_median = 0, docs_min = 0, docs_max = 0;  // documents per second
  // Median documents per second of process CPU time (all threads, spin-waits included).
  // On a shared machine it varies less with the load than the wall-clock rate.
  double docs_per_cpu_second = 0;
  double load_seconds = 0;
};

std::vector<std::string> read_lines(const std::string& path, std::size_t n) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("--texts {}: failed to open, check that the file exists", path));
  std::vector<std::string> texts;
  for (std::string line; texts.size() < n && std::getline(in, line);) {
    if (!line.empty()) texts.push_back(line);
  }
  return texts;
}

std::vector<std::string> read_profiles(const std::string& path, const std::string& task_name, std::size_t n) {
  const lamp::TaskInfo& task = lamp::task_info(lamp::parse_task(task_name));
  lamp::QuestionReader reader(path, task.id);
  lamp::Question question;
  std::vector<std::string> texts;
  while (texts.size() < n && reader.next(question)) {
    for (std::string& document : lamp::build_documents(task, question)) {
      if (texts.size() == n) break;
      texts.push_back(std::move(document));
    }
  }
  return texts;
}

std::vector<std::string> load_texts(const EmbedBenchOptions& options) {
  if (options.texts_path.empty() == options.questions_path.empty()) {
    throw Error("bench --embed: give exactly one of --texts FILE or --questions FILE");
  }
  std::vector<std::string> texts = options.texts_path.empty()
                                       ? read_profiles(options.questions_path, options.task, options.n_texts)
                                       : read_lines(options.texts_path, options.n_texts);
  const std::string& source = options.texts_path.empty() ? options.questions_path : options.texts_path;
  if (texts.empty()) throw Error(fmt::format("bench --embed: {} contains no documents", source));
  if (texts.size() < options.n_texts) {
    spdlog::warn("{} contains {} documents, fewer than --n-texts {}, so all of them are timed", source, texts.size(),
                 options.n_texts);
  }
  return texts;
}

double process_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

struct Timing {
  double wall_seconds = 0;
  double cpu_seconds = 0;
};

// Wall-clock and process CPU seconds to embed all texts in calls of `batch` texts.
Timing time_embedding(engine::Embedder& embedder, const std::vector<std::string>& texts, std::size_t batch) {
  const double cpu_start = process_cpu_seconds();
  const auto start = Clock::now();
  for (std::size_t begin = 0; begin < texts.size(); begin += batch) {
    const std::size_t n = std::min(batch, texts.size() - begin);
    const std::vector<float> values = embedder.embed(std::span(texts).subspan(begin, n));  // [n][dim]
    if (values.size() != n * embedder.dim()) throw Error("embedder returned a matrix of the wrong size");
  }
  return {std::chrono::duration<double>(Clock::now() - start).count(), process_cpu_seconds() - cpu_start};
}

EmbedRow bench_encoder(const std::string& path, const std::vector<std::string>& texts,
                       const EmbedBenchOptions& options, core::ThreadPool& pool, kernels::IsaLevel isa) {
  const auto load_start = Clock::now();
  engine::Embedder embedder(path, pool);
  EmbedRow row;
  row.load_seconds = std::chrono::duration<double>(Clock::now() - load_start).count();
  row.model = std::filesystem::path(path).filename().string();
  row.size_mib = static_cast<double>(std::filesystem::file_size(path)) / (1024.0 * 1024.0);
  row.isa = std::string(kernels::isa_name(isa));
  row.threads = pool.size();
  row.n_texts = texts.size();
  for (const std::string& text : texts) row.n_tokens += embedder.tokenize(text).size();

  time_embedding(embedder, texts, options.batch);  // warm-up
  std::vector<double> rates;
  std::vector<double> cpu_rates;
  const auto n = static_cast<double>(texts.size());
  for (int r = 0; r < options.reps; ++r) {
    const Timing timing = time_embedding(embedder, texts, options.batch);
    rates.push_back(n / timing.wall_seconds);
    cpu_rates.push_back(n / timing.cpu_seconds);
  }
  row.docs_median = median(rates);
  row.docs_min = *std::min_element(rates.begin(), rates.end());
  row.docs_max = *std::max_element(rates.begin(), rates.end());
  row.docs_per_cpu_second = median(cpu_rates);
  return row;
}

void print_rows(const std::vector<EmbedRow>& rows, const std::string& format) {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
  if (format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const EmbedRow& r : rows) {
      const double tokens_per_doc = static_cast<double>(r.n_tokens) / static_cast<double>(r.n_texts);
      out.push_back({{"model", r.model}, {"size_mib", r.size_mib}, {"isa", r.isa}, {"threads", r.threads},
                     {"texts", r.n_texts}, {"tokens", r.n_tokens}, {"docs_per_s_median", r.docs_median},
                     {"docs_per_s_min", r.docs_min}, {"docs_per_s_max", r.docs_max},
                     {"tokens_per_s_median", r.docs_median * tokens_per_doc},
                     {"docs_per_cpu_s_median", r.docs_per_cpu_second}, {"load_s", r.load_seconds},
                     {"peak_rss_mib", rss_mib}});
    }
    fmt::print("{}\n", out.dump(2));
    return;
  }
  const bool csv = format == "csv";
  fmt::print("{}", csv ? "model,size_mib,isa,threads,texts,tokens,docs_s_median,docs_s_min,docs_s_max,tokens_s,docs_cpu_s,"
                         "load_s,peak_rss_mib\n"
                       : "| model | size | isa | threads | texts | tokens | docs/s | min | max | tokens/s | docs/CPU-s | "
                         "load s | RSS MiB |\n| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
                         "---: | ---: |\n");
  for (const EmbedRow& r : rows) {
    const double tokens_per_s = r.docs_median * static_cast<double>(r.n_tokens) / static_cast<double>(r.n_texts);
    const char* pattern = csv ? "{},{:.2f},{},{},{},{},{:.2f},{:.2f},{:.2f},{:.1f},{:.2f},{:.3f},{:.1f}\n"
                              : "| {} | {:.2f} MiB | {} | {} | {} | {} | {:.2f} | {:.2f} | {:.2f} | {:.1f} | {:.2f} | "
                                "{:.3f} | {:.0f} |\n";
    fmt::print(fmt::runtime(pattern), r.model, r.size_mib, r.isa, r.threads, r.n_texts, r.n_tokens, r.docs_median,
               r.docs_min, r.docs_max, tokens_per_s, r.docs_per_cpu_second, r.load_seconds, rss_mib);
  }
}

}  // namespace

void run_embed_bench(const EmbedBenchOptions& options) {
  if (options.models.empty()) throw Error("bench --embed: give -m ENCODER[,ENCODER...] (GGUF files from qrag convert)");
  if (options.reps < 1 || options.threads < 1 || options.batch < 1 || options.n_texts < 1) {
    throw Error("bench --embed: -r, --threads, --embed-batch and --n-texts must be >= 1");
  }
  if (options.output != "md" && options.output != "csv" && options.output != "json") {
    throw Error(fmt::format("bench: unknown output format '{}' (md, csv or json)", options.output));
  }
  const std::vector<std::string> texts = load_texts(options);
  core::ThreadPool pool(options.threads);
  const kernels::IsaLevel isa = kernels::KernelContext(pool).isa();
  std::vector<EmbedRow> rows;
  for (const std::string& path : options.models) {
    rows.push_back(with_context(path, [&] { return bench_encoder(path, texts, options, pool, isa); }));
  }
  print_rows(rows, options.output);
}

}  // namespace qrag::cli
