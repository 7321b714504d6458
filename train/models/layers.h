// Building blocks shared by the backbones and heads. Submodule names follow the
// reference so that users can address layers: `<name>.conv.weight`, `<name>.bn.*`.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <string>

namespace compress {

enum class Act { None, ReLU, ReLU6, HardSwish, HardSigmoid, LeakyReLU };  // LeakyReLU: slope 0.1 (YOLOv3)
Act act_from_name(const std::string& name);  // "relu", "relu6", "hard_swish", "hard_sigmoid", "leaky_relu", "none"
torch::Tensor apply_act(const torch::Tensor& x, Act act);

// Channel counts rounded to a multiple of 8, never dropping below 90% (MobileNet's rule).
int64_t make_divisible(double v, int64_t divisor = 8);

struct ConvBNOptions {
  int64_t in, out, kernel = 1, stride = 1, groups = 1;
  Act act = Act::None;
  bool bn = true;    // false: a plain conv with bias (heads)
  ConvBNOptions(int64_t in_, int64_t out_, int64_t kernel_ = 1, int64_t stride_ = 1, int64_t groups_ = 1,
                Act act_ = Act::None, bool bn_ = true)
      : in(in_), out(out_), kernel(kernel_), stride(stride_), groups(groups_), act(act_), bn(bn_) {}
};

// conv (no bias when followed by BN) -> BN -> activation.
// Registered as `conv` and `bn`, giving `<name>.conv.weight`, `<name>.bn.running_mean`.
struct ConvBNLayerImpl : torch::nn::Module {
  explicit ConvBNLayerImpl(const ConvBNOptions& o);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};  // null when options.bn is false
  Act act;
};
TORCH_MODULE(ConvBNLayer);

// Squeeze-and-excitation: global pool -> 1x1 conv + ReLU -> 1x1 conv + hard-sigmoid
// -> channel-wise scale. Registered as `conv1` and `conv2` (with biases).
struct SEBlockImpl : torch::nn::Module {
  SEBlockImpl(int64_t channels, int64_t mid);
  torch::Tensor forward(const torch::Tensor& x);  // (N, C, H, W) -> (N, C, H, W)

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(SEBlock);

}  // namespace compress
