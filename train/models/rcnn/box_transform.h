// R-CNN box deltas with per-stage weights (wx, wy, ww, wh): dx = wx (gx - px) / pw,
// dw = ww log(gw / pw). The same algebra as the SSD coder with variance 1 / w;
// decoding clamps dw, dh so exp() cannot overflow on a wild early prediction.
#pragma once
#include <torch/types.h>

#include <array>

namespace compress {

// boxes, rois (..., 4) xyxy -> deltas (..., 4).
torch::Tensor rcnn_encode(const torch::Tensor& boxes, const torch::Tensor& rois, const std::array<float, 4>& weights);
// deltas, rois (..., 4) -> boxes (..., 4) xyxy; |dw / ww|, |dh / wh| <= log(1000 / 16).
torch::Tensor rcnn_decode(const torch::Tensor& deltas, const torch::Tensor& rois, const std::array<float, 4>& weights);
// Clips xyxy boxes (..., 4) to [0, width] x [0, height].
torch::Tensor clip_boxes(const torch::Tensor& boxes, int64_t height, int64_t width);

}  // namespace compress
