// Entry point of the qrag executable: global flags, logging, subcommand dispatch.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/build_info.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/log.h"

namespace {

void print_version() {
  const qrag::core::CpuFeatures cpu = qrag::core::detect_cpu_features();
  fmt::print("qrag {} ({} build, {})\n", qrag::core::kVersion, qrag::core::kBuildType,
             qrag::core::kCompiler);
  fmt::print("cpu: {}\n", cpu.model_name);
  fmt::print("cpu features: {}\n", cpu.summary());
}

int run(int argc, char** argv) {
  CLI::App app{"qrag: measure how quantization changes retrieval-augmented generation with small LLMs"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", [] {
    print_version();
    return std::string();
  });

  std::string log_level = "info";
  bool verbose = false;
  bool quiet = false;
  qrag::cli::GlobalOptions options;
  app.add_option("--log-level", log_level, "Log level: trace, debug, info, warn, error or off")
      ->capture_default_str();
  app.add_flag("-v,--verbose", verbose, "Log at debug level (same as --log-level debug)");
  app.add_flag("-q,--quiet", quiet, "Log errors only (same as --log-level error)");
  app.parse_complete_callback([&] {
    spdlog::level::level_enum level = qrag::core::parse_log_level(log_level);
    if (verbose) level = spdlog::level::debug;
    if (quiet) level = spdlog::level::err;
    qrag::core::init_logging(level);
  });

  qrag::cli::register_inspect(app, options);
  qrag::cli::register_generate(app, options);
  qrag::cli::register_bench(app, options);
  qrag::cli::register_tokenize(app, options);
  qrag::cli::register_report(app, options);
  qrag::cli::register_merge(app, options);
  qrag::cli::register_score(app, options);
  qrag::cli::register_retrieve(app, options);
  qrag::cli::register_quantize(app, options);
  qrag::cli::register_compare_logits(app, options);
  qrag::cli::register_imatrix(app, options);
  qrag::cli::register_convert(app, options);
  qrag::cli::register_embed(app, options);
  qrag::cli::register_run(app, options);
  qrag::cli::register_data(app, options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  if (app.get_subcommands().empty()) {
    std::fputs(app.help().c_str(), stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const qrag::Error& error) {
    std::fprintf(stderr, "qrag: error: %s\n", error.what());
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "qrag: unexpected error: %s\n", error.what());
    return 1;
  }
}
