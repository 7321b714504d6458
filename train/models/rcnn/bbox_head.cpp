#include "train/models/rcnn/bbox_head.h"

#include <torch/torch.h>

namespace compress {

BBoxHeadImpl::BBoxHeadImpl(int64_t in_features, int64_t hidden, int64_t num_classes) {
  fc6 = register_module("fc6", torch::nn::Linear(in_features, hidden));
  fc7 = register_module("fc7", torch::nn::Linear(hidden, hidden));
  cls_score = register_module("cls_score", torch::nn::Linear(hidden, num_classes + 1));
  bbox_pred = register_module("bbox_pred", torch::nn::Linear(hidden, 4));
  // Detectron's init for the predictors: N(0, 0.01) logits, N(0, 0.001) deltas, zero biases.
  torch::NoGradGuard no_grad;
  cls_score->weight.normal_(0, 0.01);
  bbox_pred->weight.normal_(0, 0.001);
  cls_score->bias.zero_();
  bbox_pred->bias.zero_();
}

std::pair<torch::Tensor, torch::Tensor> BBoxHeadImpl::forward(const torch::Tensor& pooled) {
  auto x = torch::relu(fc6->forward(pooled.flatten(1)));
  x = torch::relu(fc7->forward(x));
  return {cls_score->forward(x), bbox_pred->forward(x)};
}

}  // namespace compress
