// Tests that report outputs match the store, and that the HTML page is self-contained.
#include "report/report.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/test_paths.h"
#include "core/error.h"
#include "experiment/key.h"
#include "report/svg.h"

namespace qrag::report {
namespace {

using experiment::Cell;
using experiment::ResultRow;
using ::testing::HasSubstr;

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

Cell cell_of(const std::string& precision, int k, bool is_max = false) {
  Cell cell;
  cell.dataset = "lamp3";
  cell.task = 3;
  cell.model = "m";
  cell.precision = precision;
  cell.retriever = "bm25";
  cell.k = experiment::KValue{is_max, k};
  return cell;
}

// LaMP-3 rows: 2 precisions x k in {0, 2, max} x 8 questions with varied predictions.
std::filesystem::path make_store() {
  const std::filesystem::path dir = testing::make_temp_dir();
  experiment::ResultStore store = experiment::ResultStore::open(dir / experiment::kStoreFileName);
  const std::int64_t run = store.begin_run(experiment::describe_this_run(2, {}, "exp.toml", "qrag run exp.toml"));
  std::vector<ResultRow> rows;
  for (const char* precision : {"stored", "q4_0"}) {
    for (int k_index = 0; k_index < 3; ++k_index) {
      const Cell cell = cell_of(precision, k_index == 1 ? 2 : 0, k_index == 2);
      for (int q = 0; q < 8; ++q) {
        ResultRow row;
        row.question_id = fmt::format("q{}", q);
        row.cell = cell;
        row.key = experiment::xxh3_128_hex(cell.id() + row.question_id);
        row.generation_key = row.key;
        row.run_id = run;
        const int gold = 1 + q % 5;
        const int prediction = 1 + (q + k_index + (precision[0] == 'q' ? q % 3 : 0)) % 5;
        row.raw_output = std::to_string(prediction);
        row.prediction = row.raw_output;
        row.gold = std::to_string(gold);
        const double error = prediction - gold;
        row.scores = {{"abs_error", std::fabs(error)}, {"squared_error", error * error}, {"correct", error == 0}};
        row.prompt_tokens = 50 + 40 * k_index + q;
        row.ttft_ms = 10.0 * (k_index + 1) + (precision[0] == 'q' ? -3.0 : 0.0);
        row.prefill_tokens_per_s = 500;
        row.decode_tokens_per_s = 30;
        row.generated_tokens = 2;
        const std::vector<float> logits = {static_cast<float>(prediction), 1.0f, 0.5f, 0.0f};
        row.first_step = experiment::make_topk_record(logits, 4);
        rows.push_back(row);
      }
    }
  }
  store.put_batch(rows);
  return dir;
}

ReportOptions fast_options() {
  ReportOptions options;
  options.analysis.bootstrap.resamples = 500;
  options.analysis.permutation_resamples = 1000;
  return options;
}

TEST(Report, JsonMatchesStore) {
  const std::filesystem::path dir = make_store();
  const std::filesystem::path out = dir / "report";
  write_report(dir, out, fast_options());
  const nlohmann::json json = nlohmann::json::parse(read_text(out / "report.json"));
  const std::vector<ResultRow> rows =
      experiment::ResultStore::open(dir / experiment::kStoreFileName, experiment::ResultStore::Mode::kReadOnly).rows();

  EXPECT_EQ(json["rows"], rows.size());
  ASSERT_EQ(json["runs"].size(), 1u);
  EXPECT_EQ(json["runs"][0]["threads"], 2);
  ASSERT_EQ(json["cells"].size(), 6u);
  for (const nlohmann::json& cell : json["cells"]) {
    // Recompute MAE, RMSE and mean prompt tokens straight from the rows of this cell.
    double abs_sum = 0;
    double sq_sum = 0;
    double tokens = 0;
    int n = 0;
    for (const ResultRow& row : rows) {
      if (row.cell.id() != cell["cell"]["id"]) continue;
      abs_sum += row.scores.at("abs_error");
      sq_sum += row.scores.at("squared_error");
      tokens += static_cast<double>(row.prompt_tokens);
      ++n;
    }
    ASSERT_EQ(n, 8) << cell["cell"]["id"];
    EXPECT_EQ(cell["questions"], 8);
    EXPECT_DOUBLE_EQ(cell["metrics"]["mae"]["estimate"].get<double>(), abs_sum / n);
    EXPECT_DOUBLE_EQ(cell["metrics"]["rmse"]["estimate"].get<double>(), std::sqrt(sq_sum / n));
    EXPECT_LE(cell["metrics"]["mae"]["lower"].get<double>(), cell["metrics"]["mae"]["estimate"].get<double>());
    EXPECT_DOUBLE_EQ(cell["cost"]["prompt_tokens"].get<double>(), tokens / n);
  }
  ASSERT_EQ(json["pairs"].size(), 3u);
  for (const nlohmann::json& pair : json["pairs"]) {
    EXPECT_EQ(pair["reference"]["precision"], "stored");
    EXPECT_EQ(pair["quantized"]["precision"], "q4_0");
    EXPECT_EQ(pair["pairs"], 8);
    EXPECT_TRUE(pair["mean_kl"].is_number());
    EXPECT_TRUE(pair["right_to_wrong"].is_number());
    EXPECT_EQ(pair["metrics"]["mae"]["test"]["name"], "sign-flip-exact");
  }
}

TEST(Report, HtmlIsSelfContained) {
  const std::filesystem::path dir = make_store();
  const std::filesystem::path out = dir / "report";
  const std::vector<std::filesystem::path> written = write_report(dir, out, fast_options());
  const std::string html = read_text(out / "report.html");
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_THAT(html, HasSubstr("<svg "));
  EXPECT_THAT(html, HasSubstr("<style>"));
  EXPECT_THAT(html, HasSubstr("mae vs k"));
  // 2 metrics + TTFT per group and one Pareto chart; every chart is also a file.
  std::size_t svg_files = 0;
  for (const auto& path : written) svg_files += path.extension() == ".svg";
  EXPECT_EQ(svg_files, 4u);
  EXPECT_THAT(read_text(out / "pareto-lamp3-mae.svg"), HasSubstr("xmlns="));
}

TEST(Report, CsvAndMarkdownTables) {
  const std::filesystem::path dir = make_store();
  const std::filesystem::path out = dir / "report";
  write_report(dir, out, fast_options());
  const std::string metrics = read_text(out / "metrics.csv");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 1 + 6 * 2);
  EXPECT_THAT(metrics, HasSubstr("lamp3,m,stored,bm25,max,relevance-first,0,mae,"));
  const std::string cost = read_text(out / "cost.csv");
  EXPECT_EQ(std::count(cost.begin(), cost.end(), '\n'), 1 + 6);
  const std::string pairs = read_text(out / "pairs.csv");
  EXPECT_EQ(std::count(pairs.begin(), pairs.end(), '\n'), 1 + 3 * 2);
  const std::string markdown = read_text(out / "report.md");
  EXPECT_THAT(markdown, HasSubstr("## lamp3 (LaMP-3)"));
  EXPECT_THAT(markdown, HasSubstr("| m | q4_0 | bm25 | max |"));
}

TEST(Report, MissingStoreNamed) {
  const std::filesystem::path dir = testing::make_temp_dir();
  try {
    write_report(dir, dir / "out", fast_options());
    FAIL() << "expected an error";
  } catch (const qrag::Error& error) {
    EXPECT_THAT(error.message(), HasSubstr("results.sqlite"));
  }
}

TEST(Svg, ParetoFront) {
  const std::vector<ScatterPoint> points = {{1, 0.5, 0, "a"}, {2, 0.4, 0, "b"}, {3, 0.7, 0, "c"}, {4, 0.7, 0, "d"},
                                            {0.5, 0.1, 0, "e"}};
  EXPECT_EQ(pareto_front(points, true), (std::vector<std::size_t>{4, 0, 2}));
  // Lower is better: only the point with the lowest x and lowest y so far.
  EXPECT_EQ(pareto_front(points, false), (std::vector<std::size_t>{4}));
}

TEST(Svg, EscapesText) {
  EXPECT_EQ(xml_escape("a<b & \"c\"'"), "a&lt;b &amp; &quot;c&quot;&#39;");
  LineChart chart{"t<1>", "x", "y", {"0", "1"}, {Series{"p&q", {1.0, NAN}, {}, {}}}};
  const std::string svg = render_line_chart(chart, false);
  EXPECT_THAT(svg, HasSubstr("t&lt;1&gt;"));
  EXPECT_THAT(svg, HasSubstr("p&amp;q"));
  EXPECT_EQ(svg.find("xmlns"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

}  // namespace
}  // namespace qrag::report
