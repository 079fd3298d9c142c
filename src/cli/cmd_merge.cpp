// `qrag merge`: combines the results stores of shard runs into one store.
#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/error.h"
#include "experiment/store.h"

namespace qrag::cli {
namespace {

struct MergeCommandOptions {
  std::string output;
  std::vector<std::string> inputs;
};

void run_merge(const MergeCommandOptions& options) {
  std::vector<std::filesystem::path> inputs;
  for (const std::string& input : options.inputs) {
    const std::filesystem::path path(input);
    inputs.push_back(std::filesystem::is_directory(path) ? path / experiment::kStoreFileName : path);
    if (std::filesystem::exists(options.output) && std::filesystem::equivalent(inputs.back(), options.output)) {
      throw Error(fmt::format("merge: input '{}' is the output store; name a new output file", input));
    }
  }
  const experiment::MergeReport report = experiment::merge_stores(options.output, inputs);
  fmt::print("merged {} stores into {}: {} rows added, {} identical rows skipped, {} conflicts\n", inputs.size(),
             options.output, report.inserted, report.duplicates, report.conflicts.size());
  for (const std::string& conflict : report.conflicts) spdlog::error("conflict: {}", conflict);
  if (!report.conflicts.empty()) {
    throw Error(fmt::format("merge: {} keys have different rows in different inputs (the first was kept); the "
                            "shards ran with different code or settings",
                            report.conflicts.size()));
  }
}

}  // namespace

void register_merge(CLI::App& app, const GlobalOptions& /*options*/) {
  auto options = std::make_shared<MergeCommandOptions>();
  auto* cmd = app.add_subcommand("merge", "Combine shard results stores into one (identical rows deduplicated)");
  cmd->add_option("output", options->output, "Output store (created if missing, e.g. runs/all/results.sqlite)")
      ->required();
  cmd->add_option("inputs", options->inputs, "Input stores or run directories")->required()->check(CLI::ExistingPath);
  cmd->callback([options] { run_merge(*options); });
}

}  // namespace qrag::cli
