#include "train/util/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <opencv2/imgproc.hpp>

namespace compress {

namespace {
// BGR, the tab20-like palette: 12 series before a colour repeats.
const cv::Scalar kColors[] = {{180, 119, 31},  {14, 127, 255}, {44, 160, 44},   {40, 39, 214},
                              {189, 103, 148}, {75, 86, 140},  {194, 119, 227}, {127, 127, 127},
                              {34, 189, 188},  {207, 190, 23}, {0, 0, 0},       {120, 200, 255}};
constexpr size_t kNumColors = sizeof(kColors) / sizeof(kColors[0]);
std::string fmt_num(double v) {
  char buf[32];
  if (std::fabs(v) >= 1000 || (std::fabs(v) < 0.01 && v != 0))
    std::snprintf(buf, sizeof(buf), "%.3g", v);
  else
    std::snprintf(buf, sizeof(buf), "%.3f", v);
  return buf;
}
// Width in pixels of a row label or bar-end text, in the bar charts' font.
int text_w(const std::string& t) {
  int base = 0;
  return cv::getTextSize(t, cv::FONT_HERSHEY_SIMPLEX, 0.4, 1, &base).width;
}
}  // namespace

cv::Mat line_chart(const std::string& title, const std::string& x_label, const std::vector<Series>& series, int W,
                   int H, bool log_y) {
  cv::Mat img(H, W, CV_8UC3, cv::Scalar(255, 255, 255));
  const int left = 70, right = 160, top = 30, bottom = 40;
  const cv::Rect plot(left, top, W - left - right, H - top - bottom);
  auto ty = [&](double v) { return log_y ? std::log10(std::max(v, 1e-12)) : v; };
  double x0 = std::numeric_limits<double>::max(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, ty(s.y[i])), y1 = std::max(y1, ty(s.y[i]));
    }
  cv::putText(img, title, cv::Point(left, 20), cv::FONT_HERSHEY_SIMPLEX, 0.55, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  cv::rectangle(img, plot, cv::Scalar(0, 0, 0), 1);
  if (x0 > x1) {
    cv::putText(img, "no data", cv::Point(plot.x + 10, plot.y + 30), cv::FONT_HERSHEY_SIMPLEX, 0.5,
                cv::Scalar(0, 0, 255), 1);
    return img;
  }
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1, y0 -= 1;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;
  auto px = [&](double x) { return plot.x + static_cast<int>((x - x0) / (x1 - x0) * plot.width); };
  auto py = [&](double y) { return plot.y + plot.height - static_cast<int>((ty(y) - y0) / (y1 - y0) * plot.height); };
  for (int k = 0; k <= 4; ++k) {
    const double yv = y0 + (y1 - y0) * k / 4, xv = x0 + (x1 - x0) * k / 4;
    const int yy = plot.y + plot.height - plot.height * k / 4, xx = plot.x + plot.width * k / 4;
    cv::line(img, cv::Point(plot.x, yy), cv::Point(plot.x + plot.width, yy), cv::Scalar(225, 225, 225), 1);
    cv::putText(img, fmt_num(log_y ? std::pow(10.0, yv) : yv), cv::Point(5, yy + 4), cv::FONT_HERSHEY_SIMPLEX, 0.4,
                cv::Scalar(60, 60, 60), 1, cv::LINE_AA);
    // Iterations as integers; fractions (pruning ratios) with decimals.
    const std::string xs = x1 - x0 >= 10 ? std::to_string(static_cast<long long>(std::llround(xv))) : fmt_num(xv);
    cv::putText(img, xs, cv::Point(xx - 12, plot.y + plot.height + 16), cv::FONT_HERSHEY_SIMPLEX, 0.4,
                cv::Scalar(60, 60, 60), 1, cv::LINE_AA);
  }
  cv::putText(img, x_label, cv::Point(plot.x + plot.width / 2 - 20, H - 6), cv::FONT_HERSHEY_SIMPLEX, 0.45,
              cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  for (size_t s = 0; s < series.size(); ++s) {
    const cv::Scalar col = kColors[s % kNumColors];
    std::vector<cv::Point> pts;
    for (size_t i = 0; i < series[s].x.size(); ++i)
      if (std::isfinite(series[s].y[i])) pts.emplace_back(px(series[s].x[i]), py(series[s].y[i]));
    if (pts.size() == 1) cv::circle(img, pts[0], 3, col, cv::FILLED);
    if (pts.size() > 1) cv::polylines(img, pts, false, col, 2, cv::LINE_AA);
    for (const auto& p : pts)
      if (series[s].x.size() < 30) cv::circle(img, p, 3, col, cv::FILLED);
    const int ly = top + 12 + 20 * static_cast<int>(s);
    cv::line(img, cv::Point(W - right + 10, ly - 4), cv::Point(W - right + 30, ly - 4), col, 2);
    cv::putText(img, series[s].name, cv::Point(W - right + 35, ly), cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0),
                1, cv::LINE_AA);
  }
  return img;
}

namespace {
// Horizontal bars; `ghosts` (optional) are drawn behind in light grey, and
// `texts` (optional) replace each row's printed value.
cv::Mat draw_bars(const std::string& title, const std::string& value_label, const std::vector<std::string>& labels,
                  const std::vector<double>& values, const std::vector<double>& ghosts,
                  const std::vector<std::string>& texts, int W) {
  auto short_label = [](std::string label) {  // keep the distinctive tail
    return label.size() > 40 ? ".." + label.substr(label.size() - 38) : label;
  };
  // Margins fit the longest label and the longest text at a bar's end.
  int left = 100, right = 70;
  for (const auto& l : labels) left = std::max(left, text_w(short_label(l)) + 20);
  for (const auto& t : texts) right = std::max(right, text_w(t) + 12);
  const int row = 20, top = 34, bottom = 36;
  const int H = top + bottom + row * std::max<int>(1, static_cast<int>(labels.size()));
  cv::Mat img(H, W, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::putText(img, title, cv::Point(10, 20), cv::FONT_HERSHEY_SIMPLEX, 0.55, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  double lo = 0, hi = 0;
  for (const auto* vs : {&values, &ghosts})
    for (double v : *vs)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (hi == lo) hi = lo + 1;
  const int plot_w = W - left - right;
  auto px = [&](double v) { return left + static_cast<int>((v - lo) / (hi - lo) * plot_w); };
  const int zero = px(0.0), bottom_y = top + row * static_cast<int>(labels.size());
  cv::line(img, cv::Point(zero, top - 4), cv::Point(zero, bottom_y + 2), cv::Scalar(0, 0, 0), 1);
  for (size_t i = 0; i < labels.size() && i < values.size(); ++i) {
    const int y = top + row * static_cast<int>(i);
    cv::putText(img, short_label(labels[i]), cv::Point(8, y + 14), cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0),
                1, cv::LINE_AA);
    int end = zero;
    if (i < ghosts.size() && std::isfinite(ghosts[i])) {
      const int g = px(ghosts[i]);
      cv::rectangle(img, cv::Point(std::min(zero, g), y + 3), cv::Point(std::max(zero, g), y + row - 3),
                    cv::Scalar(215, 215, 215), cv::FILLED);
      end = std::max(end, g);
    }
    if (!std::isfinite(values[i])) continue;
    const int x = px(values[i]);
    cv::rectangle(img, cv::Point(std::min(zero, x), y + 3), cv::Point(std::max(zero, x), y + row - 3),
                  values[i] >= 0 ? kColors[0] : kColors[3], cv::FILLED);
    end = std::max(end, x);
    const std::string text = i < texts.size() ? texts[i] : fmt_num(values[i]);
    cv::putText(img, text, cv::Point(end + 4, y + 14), cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(60, 60, 60), 1,
                cv::LINE_AA);
  }
  cv::putText(img, value_label, cv::Point(left, H - 12), cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1,
              cv::LINE_AA);
  return img;
}
}  // namespace

cv::Mat bar_chart(const std::string& title, const std::string& value_label, const std::vector<std::string>& labels,
                  const std::vector<double>& values, int W) {
  return draw_bars(title, value_label, labels, values, {}, {}, W);
}

cv::Mat before_after_chart(const std::string& title, const std::string& value_label,
                           const std::vector<std::string>& labels, const std::vector<double>& before,
                           const std::vector<double>& after, const std::vector<std::string>& texts, int W) {
  return draw_bars(title, value_label, labels, after, before, texts, W);
}

cv::Mat grouped_bar_chart(const std::string& title, const std::string& value_label,
                          const std::vector<std::string>& labels, const std::vector<Series>& series, int W) {
  const int n = std::max<int>(1, static_cast<int>(series.size()));
  const int bar = 12, row = bar * n + 10, legend = 18 * n, top = 34 + legend, bottom = 36;
  int left = 100;
  for (const auto& l : labels) left = std::max(left, text_w(l) + 20);
  const int right = 60;
  const int H = top + bottom + row * std::max<int>(1, static_cast<int>(labels.size()));
  cv::Mat img(H, W, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::putText(img, title, cv::Point(10, 20), cv::FONT_HERSHEY_SIMPLEX, 0.55, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  for (int m = 0; m < static_cast<int>(series.size()); ++m) {
    const int y = 30 + 18 * m;
    cv::rectangle(img, cv::Point(left, y + 2), cv::Point(left + 20, y + 12), kColors[m % kNumColors], cv::FILLED);
    cv::putText(img, series[static_cast<size_t>(m)].name, cv::Point(left + 26, y + 12), cv::FONT_HERSHEY_SIMPLEX, 0.45,
                cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  }
  double lo = 0, hi = 0;
  for (const auto& s : series)
    for (double v : s.y)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (hi == lo) hi = lo + 1;
  const int plot_w = W - left - right;
  auto px = [&](double v) { return left + static_cast<int>((v - lo) / (hi - lo) * plot_w); };
  const int zero = px(0.0);
  for (size_t i = 0; i < labels.size(); ++i) {
    const int y = top + row * static_cast<int>(i);
    if (i % 2 == 1)
      cv::rectangle(img, cv::Point(0, y), cv::Point(W, y + row - 1), cv::Scalar(246, 246, 246), cv::FILLED);
    cv::putText(img, labels[i], cv::Point(8, y + row / 2 + 5), cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1,
                cv::LINE_AA);
    for (size_t m = 0; m < series.size(); ++m) {
      if (i >= series[m].y.size() || !std::isfinite(series[m].y[i])) continue;
      const double v = series[m].y[i];
      const int x = px(v), by = y + 5 + bar * static_cast<int>(m);
      cv::rectangle(img, cv::Point(std::min(zero, x), by), cv::Point(std::max(zero, x), by + bar - 2),
                    kColors[m % kNumColors], cv::FILLED);
      cv::putText(img, fmt_num(v), cv::Point(std::max(zero, x) + 4, by + bar - 3), cv::FONT_HERSHEY_SIMPLEX, 0.35,
                  cv::Scalar(60, 60, 60), 1, cv::LINE_AA);
    }
  }
  // The zero axis last, over the row stripes.
  cv::line(img, cv::Point(zero, top - 4), cv::Point(zero, top + row * static_cast<int>(labels.size()) + 2),
           cv::Scalar(0, 0, 0), 1);
  cv::putText(img, value_label, cv::Point(left, H - 12), cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1,
              cv::LINE_AA);
  return img;
}

}  // namespace compress
