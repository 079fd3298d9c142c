// `qrag report`: writes Markdown, CSV, JSON, SVG and HTML reports from a run directory.
#include <memory>
#include <string>

#include <fmt/core.h>

#include "cli/commands.h"
#include "report/report.h"

namespace qrag::cli {
namespace {

struct ReportCommandOptions {
  std::string run_dir;
  std::string out_dir;
  std::size_t resamples = 2000;
  std::uint64_t seed = 20240101;
  double level = 0.95;
  std::string reference;
  std::string title = "qrag report";
};

void run_report(const ReportCommandOptions& options) {
  report::ReportOptions report_options;
  report_options.analysis.bootstrap.resamples = options.resamples;
  report_options.analysis.bootstrap.seed = options.seed;
  report_options.analysis.bootstrap.level = options.level;
  report_options.analysis.reference_precision = options.reference;
  report_options.title = options.title;
  const std::filesystem::path out = options.out_dir.empty() ? std::filesystem::path(options.run_dir) / "report"
                                                            : std::filesystem::path(options.out_dir);
  const auto written = report::write_report(options.run_dir, out, report_options);
  fmt::print("wrote {} files to {} (open {})\n", written.size(), out.string(), (out / "report.html").string());
}

}  // namespace

void register_report(CLI::App& app, const GlobalOptions& /*options*/) {
  auto options = std::make_shared<ReportCommandOptions>();
  auto* cmd = app.add_subcommand("report", "Write Markdown, CSV, JSON, SVG and HTML reports of a run directory");
  cmd->add_option("run_dir", options->run_dir, "Run directory (with results.sqlite) or a results store file")
      ->required();
  cmd->add_option("-o,--out", options->out_dir, "Output folder (default: RUN_DIR/report)");
  cmd->add_option("--resamples", options->resamples, "Bootstrap resamples per interval")
      ->check(CLI::Range(std::size_t{100}, std::size_t{1'000'000}))
      ->capture_default_str();
  cmd->add_option("--seed", options->seed, "Seed of the bootstrap and permutation draws")->capture_default_str();
  cmd->add_option("--level", options->level, "Confidence level of the intervals, in (0, 1)")
      ->check(CLI::Range(0.5, 0.999))
      ->capture_default_str();
  cmd->add_option("--reference", options->reference,
                  "Reference precision of the paired comparisons (default: the most precise one per model)");
  cmd->add_option("--title", options->title, "Title of the HTML page")->capture_default_str();
  cmd->callback([options] { run_report(*options); });
}

}  // namespace qrag::cli
