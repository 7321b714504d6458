// A detector's decoded output for one image. No torch here.
#pragma once
#include <cstdint>
#include <vector>

namespace compress {

struct Detection {
  float x1, y1, x2, y2;  // input-image pixels (the evaluator maps them to the original size)
  float score;
  int64_t label;  // contiguous 0..C-1
};
using ImageDetections = std::vector<Detection>;

}  // namespace compress
