// Labels and box targets for one cascade stage (the reference's
// generate_proposal_labels): the image's RoIs plus its GT boxes are matched to
// the GT by IoU; IoU >= fg_thresh is foreground with the GT's class, IoU in
// [bg_thresh_lo, bg_thresh_hi) background; then a balanced sample.
#pragma once
#include <torch/types.h>

namespace compress {

struct RoiSampleOptions {
  double fg_thresh = 0.5, bg_thresh_hi = 0.5, bg_thresh_lo = 0.0;
  int64_t batch_size_per_im = 512;
  double fg_fraction = 0.25;
};

struct RoiTargets {
  torch::Tensor rois;      // (S, 4) xyxy, the sampled RoIs
  torch::Tensor labels;    // (S) int64: 0 background, c + 1 for class c
  torch::Tensor gt_boxes;  // (S, 4) the matched GT box (meaningful where labels > 0)
};

// rois (R, 4), gt (M, 4), gt_labels (M) int64 in 0..C-1.
RoiTargets sample_rois(const torch::Tensor& rois, const torch::Tensor& gt, const torch::Tensor& gt_labels,
                       const RoiSampleOptions& o);

}  // namespace compress
