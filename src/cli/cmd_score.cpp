// `qrag score`: scores LaMP predictions against golds with the official LaMP metrics.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/error.h"
#include "lamp/dataset.h"
#include "lamp/task.h"
#include "metrics/metrics.h"

namespace qrag::cli {
namespace {

struct ScoreOptions {
  std::string task;
  std::string golds;
  std::string predictions;
  std::string out;
};

// The official evaluation requires the file's "task" to name the task being scored.
void check_file_task(const lamp::TaskInfo& task, const lamp::OutputSet& set, const std::string& path) {
  if (set.task.empty()) {
    throw Error(path + ": missing \"task\"; expected \"" + std::string(task.golds_task) + "\"");
  }
  lamp::TaskId file_task{};
  try {
    file_task = lamp::parse_task(set.task);
  } catch (const Error&) {
    throw Error(path + ": task \"" + set.task + "\" is not a known task; expected \"" +
                std::string(task.golds_task) + "\"");
  }
  if (lamp::task_info(file_task).golds_task != task.golds_task) {
    throw Error(path + ": task \"" + set.task + "\" does not match --task " + std::string(task.name));
  }
}

void run_score(const ScoreOptions& options) {
  const lamp::TaskInfo& task = lamp::task_info(lamp::parse_task(options.task));
  const lamp::OutputSet golds = lamp::load_outputs(options.golds);
  const lamp::OutputSet predictions = lamp::load_outputs(options.predictions);
  check_file_task(task, golds, options.golds);
  check_file_task(task, predictions, options.predictions);
  spdlog::info("scoring {} predictions against {} golds for {}", predictions.items.size(), golds.items.size(),
               task.name);
  const std::map<std::string, double> result = metrics::evaluate(task, golds, predictions);

  nlohmann::ordered_json json;
  json["task"] = std::string(task.name);
  json["n"] = golds.items.size();
  for (const auto& [name, value] : result) json[name] = value;
  std::cout << json.dump(1) << "\n";
  if (!options.out.empty()) {
    std::ofstream out(options.out);
    if (!out) throw Error("cannot open " + options.out + " for writing");
    out << json.dump(1) << "\n";
    if (!out) throw Error("failed to write " + options.out);
    spdlog::info("wrote {}", options.out);
  }
}

}  // namespace

void register_score(CLI::App& app, const GlobalOptions& /*options*/) {
  auto* cmd = app.add_subcommand(
      "score", "Score predictions in the official LaMP format ({\"task\", \"golds\": [{\"id\", \"output\"}]})");
  auto options = std::make_shared<ScoreOptions>();
  cmd->add_option("--task", options->task, "Task name, e.g. LaMP_3, LaMP_2_news or LongLaMP_review")
      ->required();
  cmd->add_option("--golds", options->golds, "Gold outputs file, e.g. dev_outputs.json")->required();
  cmd->add_option("--preds", options->predictions, "Predictions file in the same format")->required();
  cmd->add_option("--out", options->out, "Also write the metrics to this JSON file");
  cmd->callback([options] { run_score(*options); });
}

}  // namespace qrag::cli
