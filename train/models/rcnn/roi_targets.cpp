#include "train/models/rcnn/roi_targets.h"

#include <torch/torch.h>

#include "train/models/nms.h"
#include "train/models/rcnn/sampler.h"

namespace compress {

RoiTargets sample_rois(const torch::Tensor& rois_in, const torch::Tensor& gt, const torch::Tensor& gt_labels,
                       const RoiSampleOptions& o) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(o.bg_thresh_lo <= o.bg_thresh_hi, "sample_rois: bg_thresh_lo above bg_thresh_hi");
  // GT boxes join the candidates, so every stage sees perfect foregrounds from the first step.
  const auto rois = torch::cat({rois_in.detach(), gt.to(rois_in.scalar_type())});
  const int64_t R = rois.size(0);
  auto lopts = torch::TensorOptions().dtype(torch::kLong).device(rois.device());
  torch::Tensor labels = torch::full({R}, -1, lopts), matched = torch::zeros({R}, lopts);
  if (gt.size(0) == 0) {
    labels.fill_(0);
  } else {
    const auto iou = box_iou(rois, gt);
    torch::Tensor max_iou;
    std::tie(max_iou, matched) = iou.max(1);
    labels.masked_fill_((max_iou < o.bg_thresh_hi) & (max_iou >= o.bg_thresh_lo), 0);
    const auto fg = max_iou >= o.fg_thresh;
    labels = torch::where(fg, gt_labels.index_select(0, matched) + 1, labels);
  }
  const auto sampled = sample_balanced(labels, o.batch_size_per_im, o.fg_fraction);
  const auto keep = torch::nonzero(sampled >= 0).view({-1});
  RoiTargets t;
  t.rois = rois.index_select(0, keep);
  t.labels = sampled.index_select(0, keep);
  t.gt_boxes = gt.size(0) ? gt.to(rois.scalar_type()).index_select(0, matched.index_select(0, keep))
                          : torch::zeros({keep.size(0), 4}, rois.options());
  return t;
}

}  // namespace compress
