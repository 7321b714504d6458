#include "train/models/nms.h"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

namespace compress {

torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b) {
  auto area_a = (a.select(1, 2) - a.select(1, 0)).clamp_min(0) * (a.select(1, 3) - a.select(1, 1)).clamp_min(0);
  auto area_b = (b.select(1, 2) - b.select(1, 0)).clamp_min(0) * (b.select(1, 3) - b.select(1, 1)).clamp_min(0);
  auto lt = torch::max(a.unsqueeze(1).narrow(2, 0, 2), b.unsqueeze(0).narrow(2, 0, 2));  // (N, M, 2)
  auto rb = torch::min(a.unsqueeze(1).narrow(2, 2, 2), b.unsqueeze(0).narrow(2, 2, 2));
  auto wh = (rb - lt).clamp_min(0);
  auto inter = wh.select(2, 0) * wh.select(2, 1);
  auto uni = area_a.unsqueeze(1) + area_b.unsqueeze(0) - inter;
  return torch::where(uni > 0, inter / uni, torch::zeros_like(inter));
}

torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, double iou_threshold, int64_t max_keep) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "nms: boxes must be (N, 4), got ", boxes.sizes());
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == boxes.size(0), "nms: scores must be (N), got ", scores.sizes());
  const int64_t n = boxes.size(0);
  if (n == 0 || max_keep == 0) return torch::empty({0}, torch::kInt64);
  const auto order =
      std::get<1>(scores.to(torch::kCPU, torch::kFloat32).sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const auto sorted = boxes.to(torch::kCPU, torch::kFloat32).index_select(0, order).contiguous();
  const float* b = sorted.data_ptr<float>();
  const int64_t* ord = order.data_ptr<int64_t>();
  // IoU only against boxes still standing, as box_iou computes it (areas of
  // clamped sides, 0 for an empty union): O(N K) for K kept instead of the
  // N x N matrix, which for 2,000 RPN proposals is 4 M pairs per level.
  std::vector<float> area(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    area[i] = std::max(b[4 * i + 2] - b[4 * i], 0.f) * std::max(b[4 * i + 3] - b[4 * i + 1], 0.f);
  std::vector<uint8_t> removed(static_cast<size_t>(n), 0);
  std::vector<int64_t> keep;
  const float thr = static_cast<float>(iou_threshold);
  for (int64_t i = 0; i < n && (max_keep < 0 || static_cast<int64_t>(keep.size()) < max_keep); ++i) {
    if (removed[i]) continue;
    keep.push_back(ord[i]);
    const float* bi = b + 4 * i;
    for (int64_t j = i + 1; j < n; ++j) {
      if (removed[j]) continue;
      const float* bj = b + 4 * j;
      const float w = std::max(std::min(bi[2], bj[2]) - std::max(bi[0], bj[0]), 0.f);
      const float h = std::max(std::min(bi[3], bj[3]) - std::max(bi[1], bj[1]), 0.f);
      const float inter = w * h;
      const float uni = area[i] + area[j] - inter;
      if (uni > 0 && inter / uni > thr) removed[j] = 1;
    }
  }
  return torch::tensor(keep, torch::kInt64);
}

}  // namespace compress
