// SSD multibox loss as the reference's ssd_loss: bipartite + per-prediction
// matching (IoU >= overlap_threshold), smooth-L1 on encoded boxes of positives,
// softmax cross-entropy on positives and hard negatives (neg_pos_ratio : 1, among
// priors with max IoU < neg_overlap), both summed and divided by the positives.
#pragma once
#include <torch/types.h>

namespace compress {

struct MultiBoxLossOptions {
  double overlap_threshold = 0.5;
  double neg_pos_ratio = 3.0;
  double neg_overlap = 0.5;
};

// For one image: gt (G, 4) normalized xyxy, priors (A, 4). Returns (A) int64
// indices of the matched GT, -1 for none. Each GT first gets its best free prior
// (greedy bipartite, highest IoU first), then every other prior whose best
// IoU >= overlap_threshold takes that GT.
torch::Tensor match_priors(const torch::Tensor& gt, const torch::Tensor& priors, double overlap_threshold);

struct MultiBoxLoss {
  torch::Tensor loc;   // scalar, already divided by num_pos
  torch::Tensor conf;  // scalar, already divided by num_pos
  int64_t num_pos = 0;
};

// loc (N, A, 4) deltas, conf (N, A, C + 1) logits with class 0 = background,
// priors (A, 4), gt_boxes (N, M, 4) normalized xyxy, gt_labels (N, M) in 0..C-1
// (-1 = padding), num_boxes (N).
MultiBoxLoss multibox_loss(const torch::Tensor& loc, const torch::Tensor& conf, const torch::Tensor& priors,
                           const torch::Tensor& gt_boxes, const torch::Tensor& gt_labels,
                           const torch::Tensor& num_boxes, const MultiBoxLossOptions& opt);

}  // namespace compress
