// Report assembly: analysis of the store, charts, the HTML page and the output files.
#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "report/svg.h"

namespace qrag::report {
namespace {

using experiment::Cell;
using experiment::CellSummary;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Cells that share everything but precision and k form one chart.
std::string chart_group(const Cell& cell) {
  return fmt::format("{}|{}|{}|{}|{}", cell.dataset, cell.model, cell.retriever, to_string(cell.order), cell.seed);
}

std::string file_safe(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    out += keep ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '-';
  }
  return out;
}

bool k_less(const experiment::KValue& a, const experiment::KValue& b) {
  if (a.is_max != b.is_max) return b.is_max;
  return a.count < b.count;
}

struct Group {
  std::vector<const CellSummary*> cells;
  std::vector<experiment::KValue> ks;
  std::vector<std::string> precisions;
};

std::map<std::string, Group> group_cells(const std::vector<CellSummary>& cells) {
  std::map<std::string, Group> groups;
  for (const CellSummary& cell : cells) {
    Group& group = groups[chart_group(cell.cell)];
    group.cells.push_back(&cell);
    if (std::find(group.ks.begin(), group.ks.end(), cell.cell.k) == group.ks.end()) group.ks.push_back(cell.cell.k);
    if (std::find(group.precisions.begin(), group.precisions.end(), cell.cell.precision) == group.precisions.end()) {
      group.precisions.push_back(cell.cell.precision);
    }
  }
  for (auto& [name, group] : groups) {
    std::sort(group.ks.begin(), group.ks.end(), k_less);
    std::sort(group.precisions.begin(), group.precisions.end(), [](const std::string& a, const std::string& b) {
      return experiment::precision_rank(a) < experiment::precision_rank(b);
    });
  }
  return groups;
}

// A line chart of `value(cell)` (with an optional band) over k, one line per precision.
LineChart k_chart(const Group& group, const std::string& title, const std::string& y_label,
                  const std::function<std::optional<experiment::Interval>(const CellSummary&)>& value) {
  LineChart chart{title, "k (retrieved profile items)", y_label, {}, {}};
  for (const experiment::KValue& k : group.ks) chart.categories.push_back(k.to_string());
  for (const std::string& precision : group.precisions) {
    const std::size_t n = group.ks.size();
    Series series{precision, std::vector<double>(n, kNaN), std::vector<double>(n, kNaN), std::vector<double>(n, kNaN)};
    for (const CellSummary* cell : group.cells) {
      if (cell->cell.precision != precision) continue;
      const auto at = std::find(group.ks.begin(), group.ks.end(), cell->cell.k) - group.ks.begin();
      if (const std::optional<experiment::Interval> interval = value(*cell)) {
        series.values[static_cast<std::size_t>(at)] = interval->estimate;
        series.lower[static_cast<std::size_t>(at)] = interval->lower;
        series.upper[static_cast<std::size_t>(at)] = interval->upper;
      }
    }
    chart.series.push_back(std::move(series));
  }
  return chart;
}

std::optional<experiment::Interval> metric_of(const CellSummary& cell, const std::string& name) {
  for (const experiment::MetricEstimate& metric : cell.metrics) {
    if (metric.name == name) return metric.value;
  }
  return std::nullopt;
}

void add_chart(std::vector<Chart>& charts, const std::string& name, const std::string& title, const LineChart& chart) {
  charts.push_back({file_safe(name) + ".svg", title, render_line_chart(chart, false), render_line_chart(chart, true)});
}

void add_pareto_charts(const ReportData& data, std::vector<Chart>& charts) {
  std::map<std::string, std::vector<const CellSummary*>> by_dataset;
  for (const CellSummary& cell : data.analysis.cells) {
    if (!cell.metrics.empty()) by_dataset[cell.cell.dataset].push_back(&cell);
  }
  for (const auto& [dataset, cells] : by_dataset) {
    const experiment::MetricEstimate& first = cells.front()->metrics.front();
    ScatterChart chart{fmt::format("{}: {} vs time to first token", dataset, first.name), "mean time to first token (ms)",
                       first.name, {}, {}, first.higher_is_better};
    for (const CellSummary* cell : cells) {
      const std::optional<experiment::Interval> value = metric_of(*cell, first.name);
      if (!value) continue;
      auto group = std::find(chart.groups.begin(), chart.groups.end(), cell->cell.precision);
      if (group == chart.groups.end()) group = chart.groups.insert(chart.groups.end(), cell->cell.precision);
      chart.points.push_back({cell->cost.ttft_ms, value->estimate,
                              static_cast<std::size_t>(group - chart.groups.begin()), cell->cell.id()});
    }
    charts.push_back({file_safe("pareto-" + dataset + "-" + first.name) + ".svg", chart.title,
                      render_scatter_chart(chart, false), render_scatter_chart(chart, true)});
  }
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) throw Error(fmt::format("cannot write report file '{}': check that the folder is writable", path.string()));
}

}  // namespace

ReportData build_report_data(const experiment::ResultStore& store, const experiment::AnalysisOptions& options) {
  ReportData data;
  data.store_path = store.path();
  data.runs = store.runs();
  data.precision_labels = store.precision_labels();
  const std::vector<experiment::ResultRow> rows = store.rows();
  data.rows = rows.size();
  data.analysis = experiment::analyze(rows, options);
  data.options = options;
  return data;
}

std::vector<Chart> report_charts(const ReportData& data) {
  std::vector<Chart> charts;
  for (const auto& [name, group] : group_cells(data.analysis.cells)) {
    const Cell& cell = group.cells.front()->cell;
    const std::string subject = fmt::format("{} / {} / {}", cell.dataset, cell.model, cell.retriever);
    std::vector<std::string> metric_names;
    for (const experiment::MetricEstimate& metric : group.cells.front()->metrics) metric_names.push_back(metric.name);
    for (const std::string& metric : metric_names) {
      const std::string title = fmt::format("{}: {} vs k", subject, metric);
      add_chart(charts, fmt::format("metric-{}-{}-{}-{}-{}", cell.dataset, cell.model, cell.retriever, metric, cell.seed),
                title, k_chart(group, title, metric, [&](const CellSummary& c) { return metric_of(c, metric); }));
    }
    const std::string title = fmt::format("{}: time to first token vs k", subject);
    add_chart(charts, fmt::format("ttft-{}-{}-{}-{}", cell.dataset, cell.model, cell.retriever, cell.seed), title,
              k_chart(group, title, "mean time to first token (ms)", [](const CellSummary& c) {
                return std::optional<experiment::Interval>({c.cost.ttft_ms, kNaN, kNaN});
              }));
  }
  add_pareto_charts(data, charts);
  // Equal file names (e.g. two orders of one cell group) get a numeric suffix.
  std::set<std::string> used;
  for (Chart& chart : charts) {
    std::string name = chart.file_name;
    for (int i = 2; used.contains(name); ++i) name = fmt::format("{}-{}.svg", chart.file_name.substr(0, chart.file_name.size() - 4), i);
    used.insert(name);
    chart.file_name = name;
  }
  return charts;
}

std::string report_html(const ReportData& data, const std::vector<Chart>& charts, const std::string& title) {
  std::string html = fmt::format(R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{0}</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: right; }}
th {{ background: #f3f3f3; }}
td:first-child, th:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: 0.5em; }}
pre {{ background: #f7f7f7; padding: 1em; overflow-x: auto; }}
</style>
</head>
<body>
<h1>{0}</h1>
)", xml_escape(title));
  html += fmt::format("<p>Store <code>{}</code>: {} rows from {} runs. Intervals: {:.0f}% percentile bootstrap over "
                      "questions, {} resamples, seed {}.</p>\n",
                      xml_escape(data.store_path.string()), data.rows, data.runs.size(),
                      data.options.bootstrap.level * 100, data.options.bootstrap.resamples,
                      data.options.bootstrap.seed);
  html += "<h2>Charts</h2>\n";
  for (const Chart& chart : charts) html += "<figure>\n" + chart.svg_inline + "</figure>\n";
  // The tables are the Markdown report, shown as preformatted text so that the page
  // needs no Markdown renderer.
  html += "<h2>Tables</h2>\n<pre>" + xml_escape(report_markdown(data)) + "</pre>\n";
  html += "<h2>Runs</h2>\n<table>\n<tr><th>run</th><th>started</th><th>qrag</th><th>build</th><th>CPU</th>"
          "<th>ISA</th><th>threads</th><th>seeds</th><th>command</th></tr>\n";
  for (const experiment::RunInfo& run : data.runs) {
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                        "<td>{}</td></tr>\n", run.run_id, xml_escape(run.started_at), xml_escape(run.qrag_version),
                        xml_escape(run.build_type), xml_escape(run.cpu_model), xml_escape(run.isa), run.threads,
                        xml_escape(run.seeds), xml_escape(run.command));
  }
  return html + "</table>\n</body>\n</html>\n";
}

std::vector<std::filesystem::path> write_report(const std::filesystem::path& run_dir,
                                                const std::filesystem::path& out_dir, const ReportOptions& options) {
  const std::filesystem::path store_path =
      std::filesystem::is_directory(run_dir) ? run_dir / experiment::kStoreFileName : run_dir;
  const experiment::ResultStore store = experiment::ResultStore::open(store_path, experiment::ResultStore::Mode::kReadOnly);
  const ReportData data = build_report_data(store, options.analysis);
  spdlog::info("report: {} rows, {} cells, {} pairs from '{}'", data.rows, data.analysis.cells.size(),
               data.analysis.pairs.size(), store_path.string());

  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error) throw Error(fmt::format("cannot create report folder '{}': {}", out_dir.string(), error.message()));
  const std::vector<Chart> charts = report_charts(data);
  std::vector<std::filesystem::path> written;
  const auto emit = [&](const std::string& name, const std::string& text) {
    write_file(out_dir / name, text);
    written.push_back(out_dir / name);
  };
  emit("report.json", report_json(data).dump(2) + "\n");
  emit("report.md", report_markdown(data));
  emit("metrics.csv", metrics_csv(data));
  emit("cost.csv", cost_csv(data));
  emit("pairs.csv", pairs_csv(data));
  emit("report.html", report_html(data, charts, options.title));
  for (const Chart& chart : charts) emit(chart.file_name, chart.svg_standalone);
  return written;
}

}  // namespace qrag::report
