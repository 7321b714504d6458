#include "train/models/rcnn/anchors.h"

#include <torch/torch.h>

#include <cmath>

namespace compress {

torch::Tensor level_anchors(int64_t height, int64_t width, double stride, double size,
                            const std::vector<double>& aspect_ratios) {
  TORCH_CHECK(height > 0 && width > 0 && stride > 0 && size > 0 && !aspect_ratios.empty(), "level_anchors: bad map ",
              height, "x", width, ", stride ", stride, " or size ", size);
  std::vector<float> half_wh;  // (A, 2): half width and half height; area = size^2 for every ratio
  for (double r : aspect_ratios) {
    TORCH_CHECK(r > 0, "level_anchors: aspect ratio must be positive, got ", r);
    half_wh.push_back(static_cast<float>(0.5 * size / std::sqrt(r)));
    half_wh.push_back(static_cast<float>(0.5 * size * std::sqrt(r)));
  }
  const int64_t A = static_cast<int64_t>(aspect_ratios.size());
  const auto hw = torch::tensor(half_wh).view({1, 1, A, 2});
  const auto cy = (torch::arange(height, torch::kFloat32) + 0.5) * stride;        // (H)
  const auto cx = (torch::arange(width, torch::kFloat32) + 0.5) * stride;         // (W)
  const auto c = torch::stack(torch::meshgrid({cx, cy}, "xy"), -1).unsqueeze(2);  // (H, W, 1, 2) as (x, y)
  return torch::cat({c - hw, c + hw}, -1).view({-1, 4});                          // (H * W * A, 4)
}

}  // namespace compress
