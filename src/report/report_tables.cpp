// JSON, Markdown and CSV renderings of an analysis.
#include <cmath>

#include <fmt/core.h>

#include "core/build_info.h"
#include "report/report.h"

namespace qrag::report {
namespace {

using experiment::Cell;
using experiment::CellSummary;
using experiment::Interval;
using experiment::PairSummary;

nlohmann::json cell_json(const Cell& cell) {
  return {{"id", cell.id()},
          {"dataset", cell.dataset},
          {"task", cell.task},
          {"model", cell.model},
          {"precision", cell.precision},
          {"retriever", cell.retriever},
          {"k", cell.k.to_string()},
          {"order", std::string(to_string(cell.order))},
          {"seed", cell.seed}};
}

nlohmann::json interval_json(const Interval& interval) {
  return {{"estimate", interval.estimate}, {"lower", interval.lower}, {"upper", interval.upper}};
}

template <typename T>
nlohmann::json optional_json(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

// CSV field quoting (RFC 4180): quote when the text has a comma, quote or line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string cell_csv(const Cell& cell) {
  return fmt::format("{},{},{},{},{},{},{}", csv_field(cell.dataset), csv_field(cell.model), csv_field(cell.precision),
                     csv_field(cell.retriever), cell.k.to_string(), to_string(cell.order), cell.seed);
}

std::string with_ci(const Interval& interval) {
  return fmt::format("{} [{}, {}]", format_number(interval.estimate), format_number(interval.lower),
                     format_number(interval.upper));
}

std::string markdown_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string format_number(double value) {
  if (std::isnan(value)) return "";
  return fmt::format("{:.4g}", value);
}

nlohmann::json report_json(const ReportData& data) {
  nlohmann::json root;
  root["qrag_version"] = core::kVersion;
  root["store"] = data.store_path.string();
  root["schema_version"] = experiment::kStoreSchemaVersion;
  root["rows"] = data.rows;
  root["options"] = {{"bootstrap_resamples", data.options.bootstrap.resamples},
                     {"bootstrap_seed", data.options.bootstrap.seed},
                     {"confidence_level", data.options.bootstrap.level},
                     {"permutation_resamples", data.options.permutation_resamples},
                     {"kl", "KL(reference || quantized) over the reference's top-32 first tokens plus one bucket for "
                            "the rest; unlisted quantized tokens get its rest mass spread uniformly"}};
  root["precision_labels"] = nlohmann::json::array();
  for (const auto& [model_precision, label] : data.precision_labels) {
    root["precision_labels"].push_back(
        {{"model", model_precision.first}, {"precision", model_precision.second}, {"label", label}});
  }
  root["runs"] = nlohmann::json::array();
  for (const experiment::RunInfo& run : data.runs) {
    root["runs"].push_back({{"run_id", run.run_id}, {"started_at", run.started_at},
                            {"qrag_version", run.qrag_version}, {"build_type", run.build_type},
                            {"compiler", run.compiler}, {"cpu_model", run.cpu_model}, {"isa", run.isa},
                            {"threads", run.threads}, {"seeds", run.seeds}, {"config_path", run.config_path},
                            {"command", run.command}});
  }
  root["cells"] = nlohmann::json::array();
  for (const CellSummary& cell : data.analysis.cells) {
    nlohmann::json metrics = nlohmann::json::object();
    for (const experiment::MetricEstimate& metric : cell.metrics) {
      metrics[metric.name] = interval_json(metric.value);
      metrics[metric.name]["higher_is_better"] = metric.higher_is_better;
    }
    root["cells"].push_back({{"cell", cell_json(cell.cell)},
                             {"questions", cell.questions},
                             {"scored", cell.scored},
                             {"truncated", cell.truncated},
                             {"metrics", metrics},
                             {"cost",
                              {{"prompt_tokens", cell.cost.prompt_tokens},
                               {"generated_tokens", cell.cost.generated_tokens},
                               {"ttft_ms", cell.cost.ttft_ms},
                               {"prefill_tokens_per_s", cell.cost.prefill_tokens_per_s},
                               {"decode_tokens_per_s", cell.cost.decode_tokens_per_s},
                               {"peak_memory_bytes", cell.cost.peak_memory_bytes},
                               {"kv_cache_bytes", cell.cost.kv_cache_bytes}}}});
  }
  root["pairs"] = nlohmann::json::array();
  for (const PairSummary& pair : data.analysis.pairs) {
    nlohmann::json metrics = nlohmann::json::object();
    for (const experiment::PairedMetric& metric : pair.metrics) {
      metrics[metric.name] = {{"difference", interval_json(metric.difference)},
                              {"higher_is_better", metric.higher_is_better},
                              {"test",
                               {{"name", metric.test.name},
                                {"statistic", metric.test.statistic},
                                {"p_value", metric.test.p_value},
                                {"n", metric.test.n}}}};
    }
    root["pairs"].push_back({{"reference", cell_json(pair.reference)},
                             {"quantized", cell_json(pair.quantized)},
                             {"pairs", pair.pairs},
                             {"metrics", metrics},
                             {"right_to_wrong", optional_json(pair.right_to_wrong)},
                             {"wrong_to_right", optional_json(pair.wrong_to_right)},
                             {"changed_predictions", pair.changed_predictions},
                             {"mean_kl", optional_json(pair.mean_kl)},
                             {"top1_agreement", optional_json(pair.top1_agreement)},
                             {"distribution_pairs", pair.distribution_pairs}});
  }
  return root;
}

std::string metrics_csv(const ReportData& data) {
  std::string text = "dataset,model,precision,retriever,k,order,seed,metric,estimate,lower,upper,questions,scored\n";
  for (const CellSummary& cell : data.analysis.cells) {
    for (const experiment::MetricEstimate& metric : cell.metrics) {
      text += fmt::format("{},{},{:.17g},{:.17g},{:.17g},{},{}\n", cell_csv(cell.cell), csv_field(metric.name),
                          metric.value.estimate, metric.value.lower, metric.value.upper, cell.questions, cell.scored);
    }
  }
  return text;
}

std::string cost_csv(const ReportData& data) {
  std::string text =
      "dataset,model,precision,retriever,k,order,seed,questions,truncated,prompt_tokens,generated_tokens,ttft_ms,"
      "prefill_tokens_per_s,decode_tokens_per_s,peak_memory_bytes,kv_cache_bytes\n";
  for (const CellSummary& cell : data.analysis.cells) {
    const experiment::CostSummary& cost = cell.cost;
    text += fmt::format("{},{},{},{:.17g},{:.17g},{:.17g},{:.17g},{:.17g},{},{}\n", cell_csv(cell.cell),
                        cell.questions, cell.truncated, cost.prompt_tokens, cost.generated_tokens, cost.ttft_ms,
                        cost.prefill_tokens_per_s, cost.decode_tokens_per_s, cost.peak_memory_bytes,
                        cost.kv_cache_bytes);
  }
  return text;
}

std::string pairs_csv(const ReportData& data) {
  std::string text =
      "dataset,model,precision,retriever,k,order,seed,reference_precision,pairs,metric,difference,lower,upper,test,"
      "p_value,right_to_wrong,wrong_to_right,changed_predictions,mean_kl,top1_agreement\n";
  const auto optional_text = [](const auto& value) { return value ? fmt::format("{:.17g}", double(*value)) : ""; };
  for (const PairSummary& pair : data.analysis.pairs) {
    for (const experiment::PairedMetric& metric : pair.metrics) {
      text += fmt::format("{},{},{},{},{:.17g},{:.17g},{:.17g},{},{:.17g},{},{},{},{},{}\n", cell_csv(pair.quantized),
                          csv_field(pair.reference.precision), pair.pairs, csv_field(metric.name),
                          metric.difference.estimate, metric.difference.lower, metric.difference.upper,
                          metric.test.name, metric.test.p_value, optional_text(pair.right_to_wrong),
                          optional_text(pair.wrong_to_right), pair.changed_predictions, optional_text(pair.mean_kl),
                          optional_text(pair.top1_agreement));
    }
  }
  return text;
}

std::string report_markdown(const ReportData& data) {
  std::string text = fmt::format("# qrag report\n\nStore: `{}` ({} rows, {} runs). Intervals are {:.0f}% percentile "
                                 "bootstrap intervals over questions ({} resamples, seed {}).\n",
                                 data.store_path.string(), data.rows, data.runs.size(),
                                 data.options.bootstrap.level * 100, data.options.bootstrap.resamples,
                                 data.options.bootstrap.seed);
  if (!data.precision_labels.empty()) {
    text += "\n## Precisions\n\nWhat each precision's model file is: its most common matrix type and, after "
            "\"<-\", the types it was quantized from.\n\n| model | precision | file |\n|---|---|---|\n";
    for (const auto& [model_precision, label] : data.precision_labels) {
      text += fmt::format("| {} | {} | {} |\n", markdown_escape(model_precision.first), model_precision.second,
                          markdown_escape(label));
    }
  }
  std::string dataset;
  for (const CellSummary& cell : data.analysis.cells) {
    if (cell.cell.dataset != dataset) {
      dataset = cell.cell.dataset;
      text += fmt::format("\n## {} (LaMP-{})\n\n| model | precision | retriever | k | order | seed | n |", dataset,
                          cell.cell.task);
      for (const experiment::MetricEstimate& metric : cell.metrics) text += fmt::format(" {} |", metric.name);
      text += "\n|---|---|---|---|---|---|---|";
      for (std::size_t i = 0; i < cell.metrics.size(); ++i) text += "---|";
      text += "\n";
    }
    text += fmt::format("| {} | {} | {} | {} | {} | {} | {} |", markdown_escape(cell.cell.model), cell.cell.precision,
                        markdown_escape(cell.cell.retriever), cell.cell.k.to_string(), to_string(cell.cell.order),
                        cell.cell.seed, cell.scored);
    for (const experiment::MetricEstimate& metric : cell.metrics) text += fmt::format(" {} |", with_ci(metric.value));
    text += "\n";
  }

  text += "\n## Cost\n\n| dataset | model | precision | retriever | k | prompt tokens | TTFT ms | prefill tok/s | "
          "decode tok/s | peak memory MiB | KV cache MiB |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const CellSummary& cell : data.analysis.cells) {
    const experiment::CostSummary& cost = cell.cost;
    text += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", cell.cell.dataset,
                        markdown_escape(cell.cell.model), cell.cell.precision, markdown_escape(cell.cell.retriever),
                        cell.cell.k.to_string(), format_number(cost.prompt_tokens), format_number(cost.ttft_ms),
                        format_number(cost.prefill_tokens_per_s), format_number(cost.decode_tokens_per_s),
                        format_number(static_cast<double>(cost.peak_memory_bytes) / (1 << 20)),
                        format_number(static_cast<double>(cost.kv_cache_bytes) / (1 << 20)));
  }

  text += "\n## Quantized vs reference (paired on identical prompts)\n\nDifference = quantized - reference. "
          "KL = mean KL(reference || quantized) of the first-token distributions.\n\n| dataset | model | retriever | "
          "k | reference | quantized | pairs | metric | difference | test | p | right->wrong | wrong->right | "
          "changed | KL | top-1 agree |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  const auto optional_text = [](const auto& value) { return value ? format_number(double(*value)) : "-"; };
  for (const PairSummary& pair : data.analysis.pairs) {
    for (const experiment::PairedMetric& metric : pair.metrics) {
      text += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                          pair.quantized.dataset, markdown_escape(pair.quantized.model),
                          markdown_escape(pair.quantized.retriever), pair.quantized.k.to_string(),
                          pair.reference.precision, pair.quantized.precision, pair.pairs, metric.name,
                          with_ci(metric.difference), metric.test.name, format_number(metric.test.p_value),
                          optional_text(pair.right_to_wrong), optional_text(pair.wrong_to_right),
                          pair.changed_predictions, optional_text(pair.mean_kl), optional_text(pair.top1_agreement));
    }
  }
  return text;
}

}  // namespace qrag::report
