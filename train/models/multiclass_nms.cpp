#include "train/models/multiclass_nms.h"

#include <torch/torch.h>

#include <algorithm>

#include "train/models/nms.h"

namespace compress {

ImageDetections multiclass_nms(const torch::Tensor& boxes_in, const torch::Tensor& scores_in, int64_t in_h,
                               int64_t in_w, const MultiClassNmsOptions& o) {
  torch::NoGradGuard no_grad;
  const auto boxes = boxes_in.to(torch::kCPU, torch::kFloat32).contiguous();
  const auto scores = scores_in.to(torch::kCPU, torch::kFloat32).contiguous();
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4 && scores.dim() == 2 && scores.size(0) == boxes.size(0),
              "multiclass_nms: expected boxes (A, 4) and scores (A, C), got ", boxes.sizes(), " and ", scores.sizes());
  ImageDetections dets;
  for (int64_t c = 0; c < scores.size(1); ++c) {
    const auto s = scores.select(1, c);
    auto idx = torch::nonzero(s > o.score_threshold).view({-1});
    if (idx.numel() == 0) continue;
    auto cs = s.index_select(0, idx);
    if (cs.numel() > o.nms_top_k) {
      const auto top = std::get<1>(cs.topk(o.nms_top_k));
      idx = idx.index_select(0, top);
      cs = cs.index_select(0, top);
    }
    const auto cb = boxes.index_select(0, idx);
    const auto keep = nms(cb, cs, o.nms_threshold);
    const auto kb = cb.index_select(0, keep).contiguous();
    const auto ks = cs.index_select(0, keep).contiguous();
    const float* pb = kb.data_ptr<float>();
    const float* ps = ks.data_ptr<float>();
    const float W = static_cast<float>(in_w), H = static_cast<float>(in_h);
    for (int64_t k = 0; k < keep.size(0); ++k)
      dets.push_back({std::clamp(pb[4 * k], 0.f, W), std::clamp(pb[4 * k + 1], 0.f, H),
                      std::clamp(pb[4 * k + 2], 0.f, W), std::clamp(pb[4 * k + 3], 0.f, H), ps[k], c});
  }
  std::stable_sort(dets.begin(), dets.end(), [](const Detection& a, const Detection& b) { return a.score > b.score; });
  if (static_cast<int64_t>(dets.size()) > o.keep_top_k) dets.resize(o.keep_top_k);
  return dets;
}

}  // namespace compress
