// Drawing boxes with class names (and scores) on images, for previews and `infer`.
#pragma once
#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace compress {

struct DrawBox {
  float x1, y1, x2, y2;
  int label;           // index into the names list
  float score = -1.f;  // < 0: ground truth, drawn without a score
};

// Draws in place on a BGR uint8 image; one stable colour per class.
void draw_boxes(cv::Mat& bgr, const std::vector<DrawBox>& boxes, const std::vector<std::string>& names);

// Encodes by the path's extension (.png, .jpg) and writes through the checked,
// atomic writer: a full disk or a non-regular target is an error naming `path`.
// `sync`: fsync before the rename (off for the thousands of files a dataset
// writes, where a crash means regenerating the set anyway).
void write_image(const std::string& path, const cv::Mat& img, const std::vector<int>& params = {}, bool sync = true);

// Tiles same-sized images into a grid with `cols` columns.
cv::Mat tile_images(const std::vector<cv::Mat>& images, int cols);

}  // namespace compress
