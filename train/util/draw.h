// Drawing boxes with class names (and scores) on images, for previews and `infer`.
#pragma once
#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace compress {

struct DrawBox {
  float x1, y1, x2, y2;
  int label;            // index into the names list
  float score = -1.f;   // < 0: ground truth, drawn without a score
};

// Draws in place on a BGR uint8 image; one stable colour per class.
void draw_boxes(cv::Mat& bgr, const std::vector<DrawBox>& boxes, const std::vector<std::string>& names);

// Tiles same-sized images into a grid with `cols` columns.
cv::Mat tile_images(const std::vector<cv::Mat>& images, int cols);

}  // namespace compress
