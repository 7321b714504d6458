// Greedy non-maximum suppression on CPU tensors.
#pragma once
#include <torch/types.h>

namespace compress {

// boxes (N, 4) xyxy, scores (N). Returns kept indices (K) int64, by descending
// score; equal scores keep the lower index first. A box is suppressed when its
// IoU with a kept box is > iou_threshold. Stops after max_keep boxes (< 0: all),
// as ONNX NonMaxSuppression's max_output_boxes_per_class.
torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, double iou_threshold, int64_t max_keep = -1);

// Pairwise IoU: a (N, 4), b (M, 4) xyxy -> (N, M).
torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace compress
