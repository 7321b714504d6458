// Per-class NMS to a final detection list, as the reference's multiclass_nms:
// per class, scores > score_threshold, the top nms_top_k by score, greedy NMS;
// then the keep_top_k best over all classes.
#pragma once
#include <torch/types.h>

#include "train/models/detection.h"

namespace compress {

struct MultiClassNmsOptions {
  double score_threshold = 0.01, nms_threshold = 0.45;
  int64_t nms_top_k = 400, keep_top_k = 200;
};

// boxes (A, 4) xyxy in input pixels, scores (A, C) float; box k of class c gets
// label c. Boxes are clipped to [0, in_w] x [0, in_h].
ImageDetections multiclass_nms(const torch::Tensor& boxes, const torch::Tensor& scores, int64_t in_h, int64_t in_w,
                               const MultiClassNmsOptions& o);

}  // namespace compress
