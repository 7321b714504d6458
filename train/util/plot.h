// Minimal line and bar charts drawn with OpenCV, for `compress plot` and the
// sensitivity analyses.
#pragma once
#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace compress {

struct Series {
  std::string name;
  std::vector<double> x, y;
};

// A chart with axes, tick labels, a title and a legend; BGR uint8 (height, width).
cv::Mat line_chart(const std::string& title, const std::string& x_label, const std::vector<Series>& series,
                   int width = 900, int height = 360, bool log_y = false);

// Horizontal bars, one row per label, top to bottom in the given order, with
// each value written at its bar's end; negative values extend left of zero.
// BGR uint8, `width` wide and as tall as the rows need.
cv::Mat bar_chart(const std::string& title, const std::string& value_label, const std::vector<std::string>& labels,
                  const std::vector<double>& values, int width = 900);

// The same rows with two values each: `before` as a light grey bar, `after`
// drawn over it in colour, and `texts[i]` written at the row's end (for
// example "1.2M -> 0.3M").
cv::Mat before_after_chart(const std::string& title, const std::string& value_label,
                           const std::vector<std::string>& labels, const std::vector<double>& before,
                           const std::vector<double>& after, const std::vector<std::string>& texts, int width = 900);

// Several series per row (for example one model each): row i holds one thin
// bar per series, in the series' legend colour, each with its value written at
// its end. Series use Series::name and Series::y (one value per label; NaN
// leaves a bar out). BGR uint8, `width` wide and as tall as the rows need.
cv::Mat grouped_bar_chart(const std::string& title, const std::string& value_label,
                          const std::vector<std::string>& labels, const std::vector<Series>& series, int width = 900);

}  // namespace compress
