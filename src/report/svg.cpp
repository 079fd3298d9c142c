// SVG rendering of line and scatter charts with axes, ticks, legends and CI bands.
#include "report/svg.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/core.h>

namespace qrag::report {
namespace {

constexpr double kWidth = 640;
constexpr double kHeight = 360;
constexpr double kLeft = 64;
constexpr double kRight = 160;  // room for the legend
constexpr double kTop = 34;
constexpr double kBottom = 48;
constexpr double kPlotWidth = kWidth - kLeft - kRight;
constexpr double kPlotHeight = kHeight - kTop - kBottom;

// Colorblind-friendly palette (Okabe and Ito, 2008).
constexpr const char* kColors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
                                   "#000000"};

const char* color(std::size_t index) { return kColors[index % std::size(kColors)]; }

struct Range {
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();

  void add(double value) {
    if (!std::isfinite(value)) return;
    min = std::min(min, value);
    max = std::max(max, value);
  }
  // Pads the range by 5% and widens an empty or one-value range so that scales stay finite.
  void finish() {
    if (!std::isfinite(min)) {
      min = 0;
      max = 1;
    }
    if (max - min < 1e-12) {
      const double half = std::max(std::fabs(min) * 0.1, 0.5);
      min -= half;
      max += half;
    }
    const double pad = (max - min) * 0.05;
    min -= pad;
    max += pad;
  }
};

double nice_step(double span) {
  const double raw = span / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double factor : {1.0, 2.0, 5.0}) {
    if (raw <= factor * magnitude) return factor * magnitude;
  }
  return 10 * magnitude;
}

std::string open_svg(const std::string& title, bool standalone) {
  std::string text = fmt::format("<svg {}viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" "
                                 "font-family=\"sans-serif\" font-size=\"11\">\n",
                                 standalone ? "xmlns=\"http://www.w3.org/2000/svg\" " : "", kWidth, kHeight, kWidth,
                                 kHeight);
  text += fmt::format("<title>{}</title>\n", xml_escape(title));
  text += fmt::format("<rect width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", kWidth, kHeight);
  text += fmt::format("<text x=\"{}\" y=\"20\" font-size=\"13\" font-weight=\"bold\">{}</text>\n", kLeft,
                      xml_escape(title));
  return text;
}

double to_y(double value, const Range& range) {
  return kTop + kPlotHeight * (1 - (value - range.min) / (range.max - range.min));
}

std::string y_axis(const Range& range, const std::string& label) {
  std::string text = fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#333\"/>\n", kLeft,
                                 kTop, kTop + kPlotHeight);
  const double step = nice_step(range.max - range.min);
  for (double tick = std::ceil(range.min / step) * step; tick <= range.max + 1e-9 * step; tick += step) {
    const double y = to_y(tick, range);
    const double shown = std::fabs(tick) < step * 1e-6 ? 0.0 : tick;
    text += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#e5e5e5\"/>\n", kLeft, y,
                        kLeft + kPlotWidth, y);
    text += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:.4g}</text>\n", kLeft - 6, y + 4, shown);
  }
  text += fmt::format("<text transform=\"translate(14 {:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                      kTop + kPlotHeight / 2, xml_escape(label));
  return text;
}

std::string x_axis_line(const std::string& label) {
  std::string text = fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/>\n", kLeft,
                                 kTop + kPlotHeight, kLeft + kPlotWidth, kTop + kPlotHeight);
  text += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", kLeft + kPlotWidth / 2,
                      kHeight - 8, xml_escape(label));
  return text;
}

std::string legend(const std::vector<std::string>& labels) {
  std::string text;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const double y = kTop + 8 + 18 * static_cast<double>(i);
    text += fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"12\" height=\"12\" fill=\"{}\"/>\n",
                        kLeft + kPlotWidth + 14, y - 9, color(i));
    text += fmt::format("<text x=\"{}\" y=\"{:.1f}\">{}</text>\n", kLeft + kPlotWidth + 32, y + 1,
                        xml_escape(labels[i]));
  }
  return text;
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_line_chart(const LineChart& chart, bool standalone) {
  Range range;
  for (const Series& series : chart.series) {
    for (double v : series.values) range.add(v);
    for (double v : series.lower) range.add(v);
    for (double v : series.upper) range.add(v);
  }
  range.finish();
  const std::size_t n = chart.categories.size();
  const auto to_x = [n](std::size_t i) {
    return n <= 1 ? kLeft + kPlotWidth / 2 : kLeft + kPlotWidth * static_cast<double>(i) / static_cast<double>(n - 1);
  };

  std::string text = open_svg(chart.title, standalone);
  text += y_axis(range, chart.y_label);
  text += x_axis_line(chart.x_label);
  for (std::size_t i = 0; i < n; ++i) {
    text += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", to_x(i),
                        kTop + kPlotHeight + 16, xml_escape(chart.categories[i]));
  }
  std::vector<std::string> labels;
  for (std::size_t s = 0; s < chart.series.size(); ++s) {
    const Series& series = chart.series[s];
    labels.push_back(series.label);
    const bool has_band = series.lower.size() == series.values.size() && series.upper.size() == series.values.size();
    if (has_band) {
      // Band polygon: upper bounds left to right, then lower bounds right to left.
      std::string points;
      for (std::size_t i = 0; i < series.values.size() && i < n; ++i) {
        if (std::isfinite(series.upper[i])) points += fmt::format("{:.1f},{:.1f} ", to_x(i), to_y(series.upper[i], range));
      }
      for (std::size_t i = std::min(series.values.size(), n); i-- > 0;) {
        if (std::isfinite(series.lower[i])) points += fmt::format("{:.1f},{:.1f} ", to_x(i), to_y(series.lower[i], range));
      }
      text += fmt::format("<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"0.15\" stroke=\"none\"/>\n", points,
                          color(s));
    }
    std::string path;
    for (std::size_t i = 0; i < series.values.size() && i < n; ++i) {
      if (!std::isfinite(series.values[i])) continue;
      path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", to_x(i), to_y(series.values[i], range));
      text += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"><title>{} {}: {:.4g}</title>"
                          "</circle>\n", to_x(i), to_y(series.values[i], range), color(s), xml_escape(series.label),
                          xml_escape(chart.categories[i]), series.values[i]);
    }
    if (!path.empty()) {
      text += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", path, color(s));
    }
  }
  text += legend(labels);
  return text + "</svg>\n";
}

std::vector<std::size_t> pareto_front(const std::vector<ScatterPoint>& points, bool higher_y_is_better) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (std::isfinite(points[i].x) && std::isfinite(points[i].y)) order.push_back(i);
  }
  const auto better = [higher_y_is_better](double a, double b) { return higher_y_is_better ? a > b : a < b; };
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (points[a].x != points[b].x) return points[a].x < points[b].x;
    return better(points[a].y, points[b].y);
  });
  std::vector<std::size_t> front;
  for (std::size_t index : order) {
    if (front.empty() || better(points[index].y, points[front.back()].y)) front.push_back(index);
  }
  return front;
}

std::string render_scatter_chart(const ScatterChart& chart, bool standalone) {
  Range x_range;
  Range y_range;
  for (const ScatterPoint& point : chart.points) {
    x_range.add(point.x);
    y_range.add(point.y);
  }
  x_range.finish();
  y_range.finish();
  const auto to_x = [&](double value) {
    return kLeft + kPlotWidth * (value - x_range.min) / (x_range.max - x_range.min);
  };

  std::string text = open_svg(chart.title, standalone);
  text += y_axis(y_range, chart.y_label);
  text += x_axis_line(chart.x_label);
  const double step = nice_step(x_range.max - x_range.min);
  for (double tick = std::ceil(x_range.min / step) * step; tick <= x_range.max + 1e-9 * step; tick += step) {
    text += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:.4g}</text>\n", to_x(tick),
                        kTop + kPlotHeight + 16, std::fabs(tick) < step * 1e-6 ? 0.0 : tick);
  }
  std::string path;
  for (std::size_t index : pareto_front(chart.points, chart.higher_y_is_better)) {
    path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", to_x(chart.points[index].x),
                        to_y(chart.points[index].y, y_range));
  }
  if (!path.empty()) {
    text += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"#777\" stroke-dasharray=\"4 3\"/>\n", path);
  }
  for (const ScatterPoint& point : chart.points) {
    if (!std::isfinite(point.x) || !std::isfinite(point.y)) continue;
    text += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\" fill-opacity=\"0.8\"><title>{}"
                        "</title></circle>\n", to_x(point.x), to_y(point.y, y_range), color(point.group),
                        xml_escape(point.label));
  }
  text += legend(chart.groups);
  return text + "</svg>\n";
}

}  // namespace qrag::report
