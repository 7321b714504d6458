#include "train/util/panels.h"

#include <opencv2/imgproc.hpp>

#include "train/util/error.h"

namespace compress {

std::vector<DrawBox> to_draw_boxes(const ImageDetections& d, int64_t in_h, int64_t in_w, int out_h, int out_w,
                                   float threshold) {
  const double sx = static_cast<double>(out_w) / static_cast<double>(in_w);
  const double sy = static_cast<double>(out_h) / static_cast<double>(in_h);
  std::vector<DrawBox> boxes;
  for (const auto& x : d)
    if (x.score >= threshold)
      boxes.push_back({static_cast<float>(x.x1 * sx), static_cast<float>(x.y1 * sy), static_cast<float>(x.x2 * sx),
                       static_cast<float>(x.y2 * sy), static_cast<int>(x.label), x.score});
  return boxes;
}

namespace {

// A white bar with the title on the left and the box count on the right; the
// title is cut with "..." to leave the count room.
cv::Mat title_bar(const std::string& title, int64_t boxes, int width) {
  cv::Mat bar(kTitleBar, width, CV_8UC3, cv::Scalar::all(255));
  const double font = 0.4;
  const std::string count = std::to_string(boxes) + (boxes == 1 ? " box" : " boxes");
  int base = 0;
  const int count_w = cv::getTextSize(count, cv::FONT_HERSHEY_SIMPLEX, font, 1, &base).width;
  std::string t = title;
  while (!t.empty() && cv::getTextSize(t, cv::FONT_HERSHEY_SIMPLEX, font, 1, &base).width > width - count_w - 16)
    t = t.substr(0, t.size() > 4 ? t.size() - 4 : 0) + "...";
  cv::putText(bar, t, cv::Point(4, kTitleBar - 7), cv::FONT_HERSHEY_SIMPLEX, font, cv::Scalar::all(0), 1, cv::LINE_AA);
  cv::putText(bar, count, cv::Point(width - count_w - 4, kTitleBar - 7), cv::FONT_HERSHEY_SIMPLEX, font,
              cv::Scalar(90, 90, 90), 1, cv::LINE_AA);
  return bar;
}

}  // namespace

cv::Mat draw_panels(const std::vector<cv::Mat>& originals, const std::vector<std::pair<int64_t, int64_t>>& input_sizes,
                    const std::vector<ModelDetections>& columns, const std::vector<std::string>& names,
                    float threshold) {
  if (originals.empty() || columns.empty()) fail("draw_panels: no images or no models to draw");
  if (input_sizes.size() != originals.size())
    fail("draw_panels: ", input_sizes.size(), " input sizes for ", originals.size(), " images");
  for (const auto& c : columns)
    if (c.dets.size() != originals.size())
      fail("draw_panels: '", c.title, "' has detections for ", c.dets.size(), " of ", originals.size(), " images");
  const int w = originals[0].cols, h = originals[0].rows;
  const bool titled = columns.size() > 1;
  std::vector<cv::Mat> panels;
  for (size_t i = 0; i < originals.size(); ++i) {
    for (const auto& c : columns) {
      cv::Mat img;
      cv::resize(originals[i], img, cv::Size(w, h));  // panels share the first image's size
      const auto boxes = to_draw_boxes(c.dets[i], input_sizes[i].first, input_sizes[i].second, h, w, threshold);
      draw_boxes(img, boxes, names);
      if (titled) cv::vconcat(title_bar(c.title, static_cast<int64_t>(boxes.size()), w), img, img);
      panels.push_back(img);
    }
  }
  const int cols = static_cast<int>(columns.size());
  const int rows = static_cast<int>(originals.size());
  const int ph = panels[0].rows;
  // A 2-pixel grey gutter between columns and rows, so panels read as separate.
  const int gap = panels.size() > 1 ? 2 : 0;
  cv::Mat grid(rows * ph + (rows - 1) * gap, cols * w + (cols - 1) * gap, CV_8UC3, cv::Scalar::all(160));
  for (size_t k = 0; k < panels.size(); ++k) {
    const int r = static_cast<int>(k) / cols, c = static_cast<int>(k) % cols;
    panels[k].copyTo(grid(cv::Rect(c * (w + gap), r * (ph + gap), w, ph)));
  }
  return grid;
}

}  // namespace compress
