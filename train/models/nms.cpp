#include "train/models/nms.h"

#include <torch/torch.h>

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

torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, double iou_threshold) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "nms: boxes must be (N, 4), got ", boxes.sizes());
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == boxes.size(0), "nms: scores must be (N), got ", scores.sizes());
  const int64_t n = boxes.size(0);
  if (n == 0) return torch::empty({0}, torch::kInt64);
  auto order = std::get<1>(scores.to(torch::kFloat32).sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  auto sorted = boxes.to(torch::kFloat32).index_select(0, order).contiguous();
  auto iou = box_iou(sorted, sorted).contiguous();  // (N, N)
  const float* m = iou.data_ptr<float>();
  const int64_t* ord = order.data_ptr<int64_t>();
  std::vector<uint8_t> removed(n, 0);
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < n; ++i) {
    if (removed[i]) continue;
    keep.push_back(ord[i]);
    const float* row = m + i * n;
    for (int64_t j = i + 1; j < n; ++j)
      if (row[j] > iou_threshold) removed[j] = 1;
  }
  return torch::tensor(keep, torch::kInt64);
}

}  // namespace compress
