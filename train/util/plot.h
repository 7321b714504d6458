// Minimal line charts drawn with OpenCV, for `compress plot`.
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

}  // namespace compress
