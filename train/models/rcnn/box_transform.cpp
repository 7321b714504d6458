#include "train/models/rcnn/box_transform.h"

#include <torch/torch.h>

#include <cmath>

#include "train/models/ssd/box_coder.h"

namespace compress {

namespace {
std::array<float, 4> inverse(const std::array<float, 4>& w) {
  for (float v : w) TORCH_CHECK(v > 0, "R-CNN box weights must be positive, got ", v);
  return {1.f / w[0], 1.f / w[1], 1.f / w[2], 1.f / w[3]};
}
}  // namespace

torch::Tensor rcnn_encode(const torch::Tensor& boxes, const torch::Tensor& rois, const std::array<float, 4>& weights) {
  return encode_boxes(boxes, rois, inverse(weights));
}

torch::Tensor rcnn_decode(const torch::Tensor& deltas, const torch::Tensor& rois, const std::array<float, 4>& weights) {
  const double clip = std::log(1000.0 / 16.0);  // Detectron's bbox_xform_clip
  const auto d = torch::cat({deltas.slice(-1, 0, 2), deltas.slice(-1, 2, 3).clamp_max(clip * weights[2]),
                             deltas.slice(-1, 3, 4).clamp_max(clip * weights[3])},
                            -1);
  return decode_boxes(d, rois, inverse(weights));
}

torch::Tensor clip_boxes(const torch::Tensor& boxes, int64_t height, int64_t width) {
  const auto w = static_cast<double>(width), h = static_cast<double>(height);
  return torch::stack({boxes.select(-1, 0).clamp(0, w), boxes.select(-1, 1).clamp(0, h),
                       boxes.select(-1, 2).clamp(0, w), boxes.select(-1, 3).clamp(0, h)},
                      -1);
}

}  // namespace compress
