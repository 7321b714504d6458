#include "train/models/resnet.h"

#include <torch/nn/functional.h>

#include "train/util/error.h"

namespace compress {

BasicBlockImpl::BasicBlockImpl(int64_t in, int64_t out, int64_t stride, bool zero_init_residual) {
  branch2a = register_module("branch2a", ConvBNLayer(ConvBNOptions(in, out, 3, stride, 1, Act::ReLU)));
  branch2b = register_module("branch2b", ConvBNLayer(ConvBNOptions(out, out, 3, 1, 1, Act::None)));
  if (stride != 1 || in != out)
    branch1 = register_module("branch1", ConvBNLayer(ConvBNOptions(in, out, 1, stride, 1, Act::None)));
  if (zero_init_residual) {
    torch::NoGradGuard no_grad;
    branch2b->bn->weight.zero_();
  }
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = branch2b->forward(branch2a->forward(x));
  return torch::relu(y + (branch1 ? branch1->forward(x) : x));
}

ResNetImpl::ResNetImpl(int64_t depth, bool zero_init_residual) {
  std::vector<int64_t> counts;
  if (depth == 18)
    counts = {2, 2, 2, 2};
  else if (depth == 34)
    counts = {3, 4, 6, 3};
  else
    fail("ResNet.depth: unsupported ", depth, " (valid: 18, 34)");
  conv1 = register_module("conv1", ConvBNLayer(ConvBNOptions(3, 64, 7, 2, 1, Act::ReLU)));
  torch::nn::ModuleList* stages[4] = {&res2, &res3, &res4, &res5};
  int64_t in = 64;
  for (int s = 0; s < 4; ++s) {
    const int64_t out = 64 << s;
    *stages[s] = register_module("res" + std::to_string(s + 2), torch::nn::ModuleList());
    for (int64_t j = 0; j < counts[s]; ++j) {
      (*stages[s])->push_back(BasicBlock(in, out, (j == 0 && s > 0) ? 2 : 1, zero_init_residual));
      in = out;
    }
  }
}

std::vector<torch::Tensor> ResNetImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == 3, "ResNet: expected (N, 3, H, W) input, got ", x.sizes());
  torch::Tensor y = torch::max_pool2d(conv1->forward(x), 3, 2, 1);  // (N, 64, H/4, W/4)
  std::vector<torch::Tensor> taps;
  for (auto* stage : {&res2, &res3, &res4, &res5}) {
    for (const auto& m : **stage) y = m->as<BasicBlock>()->forward(y);
    if (stage != &res2) taps.push_back(y);
  }
  return taps;
}

}  // namespace compress
