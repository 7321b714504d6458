// Balanced L1 loss (Libra R-CNN, Pang et al., CVPR 2019), the reference's
// Cascade R-CNN box loss. For |x| < beta:
//   alpha / b (b|x| + 1) ln(b|x| / beta + 1) - alpha |x|,   with e^(gamma / alpha) = b + 1
// and gamma |x| + gamma / b - alpha beta otherwise; the two pieces meet at beta
// in value and slope, and inliers get a larger gradient than smooth L1 gives them.
#pragma once
#include <torch/types.h>

namespace compress {

struct BalancedL1Options {
  double alpha = 0.5, gamma = 1.5, beta = 1.0;
};

// Element-wise loss, same shape as diff = prediction - target.
torch::Tensor balanced_l1(const torch::Tensor& diff, const BalancedL1Options& o = {});

}  // namespace compress
