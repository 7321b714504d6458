// YOLOv3 loss as the reference's yolov3_loss operator (PaddlePaddle), per scale:
//   - each GT goes to the one anchor (of all 9) whose shape fits it best (IoU of
//     boxes sharing a centre); if that anchor belongs to this scale's mask, the GT
//     is a positive at its centre cell (gi, gj) for that anchor;
//   - x/y: sigmoid cross-entropy against the in-cell offset, w/h: L1 against
//     log(gt / anchor), both weighted by the scale-aware factor (2 - w * h) with
//     w, h normalized by the input;
//   - objectness: sigmoid cross-entropy, target 1 at positives; 0 elsewhere, except
//     predictions whose decoded box overlaps some GT by more than ignore_thresh,
//     which are ignored;
//   - class: sigmoid cross-entropy per class at positives (label smoothing: targets
//     1 - 1/C and 1/C).
// Each GT's terms (x/y, w/h, positive objectness, class) are weighted by its
// score, MixupImage's blending factor (the reference's gt_score); negatives are not.
// Sums over cells, anchors and scales, mean over the batch.
#pragma once
#include <torch/types.h>

#include <utility>
#include <vector>

namespace compress {

struct YoloLossOptions {
  std::vector<std::pair<double, double>> anchors;  // (w, h) in input pixels, all scales
  std::vector<std::vector<int64_t>> masks;         // anchor indices per scale, stride 32 first
  int64_t num_classes = 80;
  double ignore_thresh = 0.7;
  bool label_smooth = false;
};

// Targets of one scale for a batch. Shapes (N, A, H, W), tcls (N, A, H, W, C).
struct YoloTargets {
  torch::Tensor tx, ty, tw, th, tscale;  // float; meaningful where obj > 0
  torch::Tensor obj;   // float: the GT's score (> 0) at positives, 0 negative (before the ignore rule)
  torch::Tensor tcls;  // float class targets at positives
};

// gt_boxes (N, M, 4) xyxy in input pixels, gt_labels (N, M) (-1 = padding), num_boxes (N),
// gt_scores (N, M) float or undefined (every GT weighs 1).
YoloTargets assign_yolo_targets(const torch::Tensor& gt_boxes, const torch::Tensor& gt_labels,
                                const torch::Tensor& num_boxes, int64_t scale_index, int64_t grid_h, int64_t grid_w,
                                int64_t in_h, int64_t in_w, const YoloLossOptions& o,
                                const torch::Tensor& gt_scores = {});

// Decodes one scale's raw output (N, A*(5+C), H, W) into boxes (N, A, H, W, 4),
// xyxy in input pixels: centre (g + sigmoid(t)) * stride, size exp(t) * anchor.
torch::Tensor decode_yolo_boxes(const torch::Tensor& out, const std::vector<std::pair<double, double>>& anchors,
                                int64_t in_h, int64_t in_w);

struct YoloLoss {
  torch::Tensor xy, wh, obj, cls;  // scalars
  torch::Tensor total() const { return xy + wh + obj + cls; }
};

// outputs: one (N, A*(5+C), H, W) tensor per scale, in mask order.
YoloLoss yolov3_loss(const std::vector<torch::Tensor>& outputs, const torch::Tensor& gt_boxes,
                     const torch::Tensor& gt_labels, const torch::Tensor& num_boxes, int64_t in_h, int64_t in_w,
                     const YoloLossOptions& o, const torch::Tensor& gt_scores = {});

}  // namespace compress
