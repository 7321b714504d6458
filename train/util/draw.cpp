#include "train/util/draw.h"

#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>

#include "train/util/atomic_file.h"
#include "train/util/error.h"

namespace compress {

namespace {
cv::Scalar class_color(int label) {
  // Golden-ratio hue steps give well separated colours for neighbouring labels.
  const double h = std::fmod(label * 0.618033988749895, 1.0) * 180.0;
  cv::Mat hsv(1, 1, CV_8UC3, cv::Scalar(h, 220, 255)), bgr;
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
  const auto c = bgr.at<cv::Vec3b>(0, 0);
  return cv::Scalar(c[0], c[1], c[2]);
}
}  // namespace

void draw_boxes(cv::Mat& bgr, const std::vector<DrawBox>& boxes, const std::vector<std::string>& names) {
  const double font = std::max(0.35, bgr.cols / 900.0);
  // Every box first, then every label, so no box line crosses a label.
  for (const auto& b : boxes) {
    const cv::Point p1(static_cast<int>(b.x1), static_cast<int>(b.y1));
    const cv::Point p2(static_cast<int>(b.x2) - 1, static_cast<int>(b.y2) - 1);
    cv::rectangle(bgr, p1, p2, class_color(b.label), 1 + bgr.cols / 640);
  }
  std::vector<cv::Rect> labels;  // drawn so far
  for (const auto& b : boxes) {
    const cv::Scalar col = class_color(b.label);
    const cv::Point p1(static_cast<int>(b.x1), static_cast<int>(b.y1));
    std::string text =
        (b.label >= 0 && b.label < static_cast<int>(names.size())) ? names[b.label] : std::to_string(b.label);
    if (b.score >= 0) {
      char buf[16];
      std::snprintf(buf, sizeof(buf), " %.2f", b.score);
      text += buf;
    }
    int base = 0;
    const cv::Size ts = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, font, 1, &base);
    int ty = std::max(ts.height + 2, p1.y);
    // Several classes on one box (per-class NMS keeps each): stack their
    // labels downwards instead of drawing one over the other.
    const int lh = ts.height + 2 + base;
    auto label_rect = [&] { return cv::Rect(p1.x, ty - ts.height - 2, ts.width + 3, lh); };
    for (int tries = 0; tries < 8; ++tries) {
      bool clear = true;
      for (const auto& r : labels) clear = clear && (r & label_rect()).area() == 0;
      if (clear) break;
      ty += lh;
    }
    labels.push_back(label_rect());
    cv::rectangle(bgr, cv::Point(p1.x, ty - ts.height - 2), cv::Point(p1.x + ts.width + 2, ty + base - 1), col,
                  cv::FILLED);
    cv::putText(bgr, text, cv::Point(p1.x + 1, ty - 1), cv::FONT_HERSHEY_SIMPLEX, font, cv::Scalar(0, 0, 0), 1,
                cv::LINE_AA);
  }
}

cv::Mat tile_images(const std::vector<cv::Mat>& images, int cols) {
  if (images.empty()) return {};
  const int h = images[0].rows, w = images[0].cols;
  const int rows = (static_cast<int>(images.size()) + cols - 1) / cols;
  cv::Mat grid(rows * h, cols * w, images[0].type(), cv::Scalar::all(255));
  for (size_t i = 0; i < images.size(); ++i) {
    cv::Mat cell;
    cv::resize(images[i], cell, cv::Size(w, h));
    cell.copyTo(grid(cv::Rect(static_cast<int>(i % cols) * w, static_cast<int>(i / cols) * h, w, h)));
  }
  return grid;
}

void write_image(const std::string& path, const cv::Mat& img, const std::vector<int>& params, bool sync) {
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext.empty()) fail("cannot write image '", path, "': give it an extension (.png or .jpg)");
  std::vector<uchar> bytes;
  bool ok = false;
  try {
    ok = cv::imencode(ext, img, bytes, params);
  } catch (const cv::Exception& e) {
    fail("cannot write image '", path, "': ", e.err);
  }
  if (!ok) fail("cannot write image '", path, "': OpenCV cannot encode '", ext, "'");
  write_file_atomic(path, bytes.data(), bytes.size(), sync);
}

}  // namespace compress
