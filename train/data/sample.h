// One training/eval sample as it moves through the transforms. No torch here:
// transforms work on OpenCV images; collate turns samples into tensors.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <vector>

namespace compress {

struct Box {
  float x1, y1, x2, y2;  // pixels, continuous coordinates: a pixel i spans [i, i+1)
  float width() const { return x2 - x1; }
  float height() const { return y2 - y1; }
  float area() const { return std::max(0.f, x2 - x1) * std::max(0.f, y2 - y1); }
};

struct Sample {
  int64_t image_id = 0;
  int orig_width = 0, orig_height = 0;  // of the decoded file; eval maps boxes back to it
  cv::Mat image;                        // CV_8UC3 RGB until NormalizeImage, then CV_32FC3
  std::vector<Box> boxes;               // (N) non-crowd targets
  std::vector<int64_t> labels;          // (N) contiguous labels 0..C-1
  // (N) each box's weight in the loss: MixupImage's blending factor of the image
  // it came from (the reference's gt_score). Empty = every box weighs 1.
  std::vector<float> scores;
};

}  // namespace compress
