// Registration of the qrag subcommands; each one lives in its own cmd_*.cpp file.
#pragma once

#include <CLI/CLI.hpp>

namespace qrag::cli {

// Options shared by every subcommand, set from the top-level flags before it runs.
struct GlobalOptions {
  int threads = 0;  // 0 = one per available core
};

// Each function adds one subcommand to `app`. The subcommand's callback does the
// work and throws qrag::Error on user mistakes.
void register_inspect(CLI::App& app, const GlobalOptions& options);
void register_generate(CLI::App& app, const GlobalOptions& options);
void register_bench(CLI::App& app, const GlobalOptions& options);
void register_tokenize(CLI::App& app, const GlobalOptions& options);
void register_report(CLI::App& app, const GlobalOptions& options);
void register_merge(CLI::App& app, const GlobalOptions& options);
void register_score(CLI::App& app, const GlobalOptions& options);
void register_retrieve(CLI::App& app, const GlobalOptions& options);
void register_quantize(CLI::App& app, const GlobalOptions& options);
void register_compare_logits(CLI::App& app, const GlobalOptions& options);
void register_imatrix(CLI::App& app, const GlobalOptions& options);
void register_convert(CLI::App& app, const GlobalOptions& options);
void register_embed(CLI::App& app, const GlobalOptions& options);
void register_run(CLI::App& app, const GlobalOptions& options);
void register_data(CLI::App& app, const GlobalOptions& options);

}  // namespace qrag::cli
