// One cascade stage's box head (the reference's CascadeBBoxHead with a two-FC
// TwoFCHead): pooled RoI features -> fc6 -> ReLU -> fc7 -> ReLU -> class logits
// (C + 1, background first) and class-agnostic deltas (4).
// Names: bbox_head.{stage}.fc6, .fc7, .cls_score, .bbox_pred.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <utility>

namespace compress {

struct BBoxHeadImpl : torch::nn::Module {
  BBoxHeadImpl(int64_t in_features, int64_t hidden, int64_t num_classes);
  // pooled (R, C, res, res) -> {logits (R, num_classes + 1), deltas (R, 4)}
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& pooled);
  torch::nn::Linear fc6{nullptr}, fc7{nullptr}, cls_score{nullptr}, bbox_pred{nullptr};
};
TORCH_MODULE(BBoxHead);

}  // namespace compress
