#include "train/models/rcnn/balanced_l1.h"

#include <torch/torch.h>

#include <cmath>

namespace compress {

torch::Tensor balanced_l1(const torch::Tensor& diff, const BalancedL1Options& o) {
  TORCH_CHECK(o.alpha > 0 && o.gamma > 0 && o.beta > 0, "balanced_l1: alpha, gamma and beta must be positive");
  const double b = std::exp(o.gamma / o.alpha) - 1.0;
  const auto x = diff.abs();
  const auto inner = o.alpha / b * (b * x + 1) * torch::log(b * x / o.beta + 1) - o.alpha * x;
  const auto outer = o.gamma * x + (o.gamma / b - o.alpha * o.beta);
  return torch::where(x < o.beta, inner, outer);
}

}  // namespace compress
