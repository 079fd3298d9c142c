// `qrag report`: Markdown, CSV, JSON, SVG and a self-contained HTML page from a results store.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiment/analysis.h"
#include "experiment/store.h"

namespace qrag::report {

struct ReportOptions {
  experiment::AnalysisOptions analysis;
  std::string title = "qrag report";
};

// The analysis of a store plus what the report needs to say where it came from.
struct ReportData {
  std::filesystem::path store_path;
  std::vector<experiment::RunInfo> runs;
  // (model, precision) -> what the file is, e.g. "stored (Q4_1)"; empty for stores
  // written before labels existed.
  std::map<std::pair<std::string, std::string>, std::string> precision_labels;
  std::size_t rows = 0;
  experiment::Analysis analysis;
  experiment::AnalysisOptions options;
};

ReportData build_report_data(const experiment::ResultStore& store, const experiment::AnalysisOptions& options);

// Everything in one JSON document: runs, options, cells (metrics with CIs and cost) and
// pairs (differences, tests, flips, KL, top-1 agreement). Absent values are null.
nlohmann::json report_json(const ReportData& data);

// Markdown: a metric table (model x precision x retriever x k, per dataset), a cost table
// and a paired-comparison table.
std::string report_markdown(const ReportData& data);

// CSV tables with a header line: one row per (cell, metric), per cell (cost), per (pair, metric).
std::string metrics_csv(const ReportData& data);
std::string cost_csv(const ReportData& data);
std::string pairs_csv(const ReportData& data);

// A named SVG chart.
struct Chart {
  std::string file_name;  // e.g. "metric-lamp3-m-bm25-mae.svg"
  std::string title;
  std::string svg_inline;      // for the HTML page (no namespace attribute)
  std::string svg_standalone;  // for the .svg file
};

// Builds the charts. Metric vs k (one line per precision with CI bands) and time to first
// token vs k come per dataset, model and retriever. Quality vs time to first token with
// the Pareto front comes per dataset, for its first metric.
std::vector<Chart> report_charts(const ReportData& data);

// One HTML page with inline CSS and SVG; it references no network resource.
std::string report_html(const ReportData& data, const std::vector<Chart>& charts, const std::string& title);

// Writes report.md, report.json, metrics.csv, cost.csv, pairs.csv, report.html and one
// .svg per chart into `out_dir` (created if missing); returns the written paths.
std::vector<std::filesystem::path> write_report(const std::filesystem::path& run_dir,
                                                const std::filesystem::path& out_dir, const ReportOptions& options);

// Formats a number for tables: up to 4 significant digits, "" for NaN.
std::string format_number(double value);

}  // namespace qrag::report
