// Optimizer construction: parameter groups with the reference's per-stage LR
// multipliers and weight decays (conv_decay on conv weights, none on BN).
#pragma once
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <vector>

namespace compress {
class Config;

struct ParamGroupSpec {
  double lr_mult = 1.0;
  double weight_decay = 0.0;
  std::vector<std::string> names;
  std::vector<torch::Tensor> params;
};

// Groups the trainable parameters of `model` by (lr_mult, weight_decay).
std::vector<ParamGroupSpec> make_param_groups(const torch::nn::Module& model, const Config& cfg);

struct OptimizerBundle {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<ParamGroupSpec> groups;  // same order as optimizer->param_groups()
  double clip_grad_norm = 0;
  void set_lr(double lr);  // base lr; each group gets lr * its lr_mult
};

OptimizerBundle make_optimizer(const torch::nn::Module& model, const Config& cfg);

}  // namespace compress
