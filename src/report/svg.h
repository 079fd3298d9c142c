// Hand-written SVG charts: category line charts with CI bands, and scatter plots with a Pareto front.
#pragma once

#include <string>
#include <vector>

namespace qrag::report {

// One line of a line chart; values align with LineChart::categories and NaN marks a
// missing point. lower/upper may be empty (no band) or the same size as values.
struct Series {
  std::string label;
  std::vector<double> values;
  std::vector<double> lower;
  std::vector<double> upper;
};

// Evenly spaced categories on the x axis (e.g. k = 0, 1, 3, 5, max).
struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<std::string> categories;
  std::vector<Series> series;
};

struct ScatterPoint {
  double x = 0.0;
  double y = 0.0;
  std::size_t group = 0;  // index into ScatterChart::groups (sets the color)
  std::string label;      // tooltip text
};

// Points colored by group; the Pareto front (lowest x for the best y) is drawn as a
// step line. higher_y_is_better picks the direction of "best".
struct ScatterChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<std::string> groups;
  std::vector<ScatterPoint> points;
  bool higher_y_is_better = true;
};

// Renders an <svg> element. `standalone` adds the SVG namespace declaration needed by a
// separate .svg file; HTML5 pages embed the element without it.
std::string render_line_chart(const LineChart& chart, bool standalone);
std::string render_scatter_chart(const ScatterChart& chart, bool standalone);

// Indices of the Pareto-optimal points: no other point has x <= and y at least as good
// with one of them strictly better. Sorted by increasing x.
std::vector<std::size_t> pareto_front(const std::vector<ScatterPoint>& points, bool higher_y_is_better);

// Escapes &, <, >, " and ' for XML text and attribute values.
std::string xml_escape(const std::string& text);

}  // namespace qrag::report
