// Several models' detections on the same images, as one picture: a column per
// model (titled), a row per image, so a compressed model's misses and extra
// boxes show against the float model's. No torch here.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "train/models/detection.h"
#include "train/util/draw.h"

namespace compress {

struct ModelDetections {
  std::string title;                  // drawn above the column
  std::vector<ImageDetections> dets;  // one per image, in input pixels
};

// The detections scoring >= threshold, scaled from an in_h x in_w input to
// an out_h x out_w picture (the original image, or its panel).
std::vector<DrawBox> to_draw_boxes(const ImageDetections& d, int64_t in_h, int64_t in_w, int out_h, int out_w,
                                   float threshold);

// originals: BGR images; input_sizes: each image's (height, width) as the
// model saw it. One column alone is drawn without title bars (the plain
// `infer` picture; several images stack with 2 px gutters); with more, each
// panel gets a kTitleBar-pixel bar naming its model and counting its boxes.
// Panels take the first image's size.
constexpr int kTitleBar = 22;
cv::Mat draw_panels(const std::vector<cv::Mat>& originals, const std::vector<std::pair<int64_t, int64_t>>& input_sizes,
                    const std::vector<ModelDetections>& columns, const std::vector<std::string>& names,
                    float threshold);

}  // namespace compress
