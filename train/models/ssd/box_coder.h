// SSD box encoding with variances (PaddlePaddle box_coder, encode_center_size,
// normalized boxes): offsets of centres relative to the prior size, log of size ratios.
#pragma once
#include <torch/types.h>

#include <array>

namespace compress {

constexpr std::array<float, 4> kSsdVariance = {0.1f, 0.1f, 0.2f, 0.2f};

// boxes, priors: (..., 4) xyxy -> deltas (..., 4) [dx, dy, dw, dh].
torch::Tensor encode_boxes(const torch::Tensor& boxes, const torch::Tensor& priors,
                           const std::array<float, 4>& var = kSsdVariance);
// Inverse of encode_boxes.
torch::Tensor decode_boxes(const torch::Tensor& deltas, const torch::Tensor& priors,
                           const std::array<float, 4>& var = kSsdVariance);

}  // namespace compress
