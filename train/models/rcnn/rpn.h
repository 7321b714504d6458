// The region proposal network on FPN levels (the reference's FPNRPNHead): one
// head shared by every level (3x3 conv + ReLU, then 1x1 objectness and 1x1
// deltas per anchor), its targets and loss, and proposal generation.
// Names: rpn_head.conv, rpn_head.rpn_cls_logits, rpn_head.rpn_bbox_pred.
#pragma once
#include <torch/nn/module.h>

#include <utility>
#include <vector>

#include "train/models/layers.h"

namespace compress {

struct RPNHeadImpl : torch::nn::Module {
  RPNHeadImpl(int64_t in, int64_t channels, int64_t num_anchors);
  // x (N, in, H, W) -> {objectness logits (N, A, H, W), deltas (N, 4A, H, W)}
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x);
  ConvBNLayer conv{nullptr}, rpn_cls_logits{nullptr}, rpn_bbox_pred{nullptr};
};
TORCH_MODULE(RPNHead);

struct RpnTargetOptions {
  int64_t batch_size_per_im = 256;
  double fg_fraction = 0.5, positive_overlap = 0.7, negative_overlap = 0.3;
  // Anchors reaching more than this many pixels outside the image take no part
  // (label -1, and never a GT's best); < 0 keeps them all. The reference's 0.
  double straddle_thresh = 0.0;
};

// Anchor labels before sampling (K) int64: 1 where IoU with some GT >= positive_overlap
// or where the anchor is (one of) a GT's best, 0 where every IoU < negative_overlap,
// -1 otherwise or where it straddles the height x width image; and the matched GT
// index per anchor (K). anchors (K, 4), gt (M, 4).
std::pair<torch::Tensor, torch::Tensor> assign_anchors(const torch::Tensor& anchors, const torch::Tensor& gt,
                                                       const RpnTargetOptions& o, int64_t height, int64_t width);

// One level's head outputs laid out like level_anchors(): (N, A, H, W) ->
// (N, H*W*A), and (N, 4A, H, W) -> (N, H*W*A, 4).
torch::Tensor flatten_objectness(const torch::Tensor& cls);
torch::Tensor flatten_deltas(const torch::Tensor& box);

struct RpnLoss {
  torch::Tensor cls, bbox;  // scalars
};
// logits (N, K), deltas (N, K, 4) over all levels; anchors (K, 4); per image GT
// (M_i, 4) on a height x width input. BCE over the sampled anchors and smooth L1
// (beta 1/9) over the positives' deltas, both divided by the number sampled.
RpnLoss rpn_loss(const torch::Tensor& logits, const torch::Tensor& deltas, const torch::Tensor& anchors,
                 const std::vector<torch::Tensor>& gt, const RpnTargetOptions& o, int64_t height, int64_t width);

struct ProposalOptions {
  int64_t pre_nms_top_n = 2000, post_nms_top_n = 2000;
  double nms_thresh = 0.7, min_size = 0.0;
};
// One image: per level objectness (K_l), deltas (K_l, 4), anchors (K_l, 4).
// Per level, the pre_nms_top_n best are decoded, clipped, stripped of boxes
// narrower than min_size, NMS-ed and cut to post_nms_top_n; the post_nms_top_n
// best over all levels are the proposals (P, 4), best first, detached, on the
// input's device. Equal scores keep their index order, as ONNX TopK and
// NonMaxSuppression do.
torch::Tensor generate_proposals(const std::vector<torch::Tensor>& logits, const std::vector<torch::Tensor>& deltas,
                                 const std::vector<torch::Tensor>& anchors, int64_t height, int64_t width,
                                 const ProposalOptions& o);

}  // namespace compress
