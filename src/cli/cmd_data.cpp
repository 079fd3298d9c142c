// `qrag data download lamp`: fetches the official LaMP questions and outputs files.
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "lamp/download.h"
#include "lamp/task.h"

namespace qrag::cli {
namespace {

struct DownloadLampOptions {
  std::string task;
  std::string split;
  bool time_based = false;
  std::string out;
  std::string base_url = std::string(lamp::kLampBaseUrl);
  bool force = false;
  int attempts = 3;
};

// "3" means LaMP_3 (and "2" the current LaMP-2, movie tagging); names go to parse_task.
lamp::TaskId parse_task_option(const std::string& text) {
  if (text.size() == 1 && text[0] >= '1' && text[0] <= '7') return lamp::parse_task("LaMP_" + text);
  return lamp::parse_task(text);
}

// Logs progress at every further tenth of a file of known size.
class ProgressLog {
 public:
  explicit ProgressLog(std::string name) : name_(std::move(name)) {}

  void operator()(std::uint64_t done, std::uint64_t total) {
    if (total == 0) return;
    const int tenth = static_cast<int>(done * 10 / total);
    if (tenth <= last_tenth_ || tenth >= 10) return;
    last_tenth_ = tenth;
    spdlog::info("{}: {}% ({} of {} bytes)", name_, tenth * 10, done, total);
  }

 private:
  std::string name_;
  int last_tenth_ = 0;
};

void run_download_lamp(const DownloadLampOptions& options) {
  const lamp::TaskId task = parse_task_option(options.task);
  const lamp::LampSplit split = lamp::parse_lamp_split(options.split);
  const std::vector<lamp::LampFile> files =
      lamp::lamp_files(task, split, options.time_based, options.base_url);
  const std::string task_name(lamp::task_info(task).name);
  const std::filesystem::path out =
      options.out.empty() ? std::filesystem::path("data") / task_name / (options.time_based ? "time" : "user")
                          : std::filesystem::path(options.out);
  if (task == lamp::TaskId::kLamp6) {
    spdlog::warn(
        "LaMP_6 questions hold Avocado e-mail ids instead of texts, and no outputs are published: build the "
        "texts with data/avocado/create_avocado_dataset.py of the LaMP repository and the licensed "
        "Avocado corpus");
  }
  if (split == lamp::LampSplit::kTest)
    spdlog::info("the test split has no published outputs; downloading questions only");

  lamp::DownloadOptions download;
  download.force = options.force;
  download.max_attempts = options.attempts;
  for (const lamp::LampFile& file : files) {
    download.progress = ProgressLog(file.name);
    const lamp::DownloadResult result = lamp::download_file(file.url, out / file.name, download);
    // sha256sum's format, so that `sha256sum -c` can check the files later.
    std::cout << result.sha256 << "  " << result.path.string() << "\n" << std::flush;
  }
}

}  // namespace

void register_data(CLI::App& app, const GlobalOptions& /*options*/) {
  auto* data = app.add_subcommand("data", "Get benchmark data");
  data->require_subcommand(1);
  auto* download = data->add_subcommand("download", "Download a benchmark's published files");
  download->require_subcommand(1);
  auto* lamp_cmd = download->add_subcommand(
      "lamp", "Download one LaMP task and split; prints the SHA-256 and path of each file");
  auto options = std::make_shared<DownloadLampOptions>();
  lamp_cmd
      ->add_option("--task", options->task,
                   "LaMP task: 1..7 (2 = movie tagging) or a name such as LaMP_2_news")
      ->required();
  lamp_cmd->add_option("--split", options->split, "Split: train, dev or test")->required();
  lamp_cmd->add_flag("--time-based", options->time_based, "Time-based split instead of the user-based one");
  lamp_cmd->add_option("--out", options->out, "Output folder (default data/TASK/user or data/TASK/time)");
  lamp_cmd->add_option("--base-url", options->base_url, "Base URL of the LaMP files, for mirrors and tests")
      ->capture_default_str();
  lamp_cmd->add_flag("--force", options->force, "Download again even when a file exists");
  lamp_cmd
      ->add_option("--attempts", options->attempts, "HTTP requests per file before giving up; retries resume")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  lamp_cmd->callback([options] { run_download_lamp(*options); });
}

}  // namespace qrag::cli
