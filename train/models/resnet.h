// ResNet-18/34 (He et al., CVPR 2016) with BasicBlocks, the YOLOv3 teacher's
// backbone. Names read like the reference's res{stage}{block}_branch{...} scopes:
//   backbone.conv1                         7x7 s2 stem + BN + ReLU, then 3x3 s2 max-pool
//   backbone.res{2..5}.{j}.branch2a        3x3 conv (stride 2 in the first block of res3..5)
//   backbone.res{2..5}.{j}.branch2b        3x3 conv, no activation before the add
//   backbone.res{2..5}.{j}.branch1         1x1 projection shortcut where shape changes
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <vector>

#include "train/models/layers.h"

namespace compress {

struct BasicBlockImpl : torch::nn::Module {
  // zero_init_residual: branch2b's BN scale starts at 0, so each block starts as
  // its shortcut (Goyal et al. 2017): a deep net trained from scratch then begins
  // as a shallow one, which converges much sooner without ImageNet weights.
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride, bool zero_init_residual = false);
  torch::Tensor forward(const torch::Tensor& x);  // (N, in, H, W) -> (N, out, H/stride, W/stride)

  ConvBNLayer branch2a{nullptr}, branch2b{nullptr}, branch1{nullptr};  // branch1 null: identity
};
TORCH_MODULE(BasicBlock);

struct ResNetImpl : torch::nn::Module {
  explicit ResNetImpl(int64_t depth, bool zero_init_residual = false);  // depth 18 or 34
  // (N, 3, H, W) -> {res3 (N, 128, H/8, W/8), res4 (N, 256, H/16, W/16), res5 (N, 512, H/32, W/32)}:
  // the reference's feature_maps [3, 4, 5].
  std::vector<torch::Tensor> forward(const torch::Tensor& x);

  ConvBNLayer conv1{nullptr};
  torch::nn::ModuleList res2, res3, res4, res5;
  std::vector<int64_t> stride_channels = {128, 256, 512};
};
TORCH_MODULE(ResNet);

}  // namespace compress
