#include "train/models/ssd/box_coder.h"

#include <torch/torch.h>

namespace compress {

namespace {
// (..., 4) xyxy -> centre x, centre y, width, height, each (...).
std::array<torch::Tensor, 4> to_cxcywh(const torch::Tensor& b) {
  auto w = b.select(-1, 2) - b.select(-1, 0);
  auto h = b.select(-1, 3) - b.select(-1, 1);
  return {b.select(-1, 0) + 0.5 * w, b.select(-1, 1) + 0.5 * h, w, h};
}
}  // namespace

torch::Tensor encode_boxes(const torch::Tensor& boxes, const torch::Tensor& priors, const std::array<float, 4>& var) {
  const auto [pcx, pcy, pw, ph] = to_cxcywh(priors);
  const auto [tcx, tcy, tw, th] = to_cxcywh(boxes);
  constexpr double kEps = 1e-8;  // guards the log against degenerate targets
  return torch::stack(
      {(tcx - pcx) / pw / var[0], (tcy - pcy) / ph / var[1], torch::log((tw / pw).abs().clamp_min(kEps)) / var[2],
       torch::log((th / ph).abs().clamp_min(kEps)) / var[3]},
      -1);
}

torch::Tensor decode_boxes(const torch::Tensor& d, const torch::Tensor& priors, const std::array<float, 4>& var) {
  const auto [pcx, pcy, pw, ph] = to_cxcywh(priors);
  auto cx = d.select(-1, 0) * var[0] * pw + pcx;
  auto cy = d.select(-1, 1) * var[1] * ph + pcy;
  auto w = torch::exp(d.select(-1, 2) * var[2]) * pw;
  auto h = torch::exp(d.select(-1, 3) * var[3]) * ph;
  return torch::stack({cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h}, -1);
}

}  // namespace compress
