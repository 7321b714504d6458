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

// Multi-process training can replace BatchNorm's training-mode forward (SyncBN,
// train/engine/sync_bn.h); nullptr restores the module's own.
using BatchNormForward = torch::Tensor (*)(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);
void set_batch_norm_forward(BatchNormForward f);
torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

// Channel counts rounded to a multiple of 8, never dropping below 90% (MobileNet's rule).
int64_t make_divisible(double v, int64_t divisor = 8);

// What QAT attaches beside a conv (compress/quant): fake-quantization of the
// conv's input activation, of its (BN-folded) weight and, where the model's
// quantization plan says so, of its output. Registered as `<conv name>_quant`,
// so its scales and plan are saved with the checkpoint.
struct ConvQuantHook : torch::nn::Module {
  virtual torch::Tensor input(const torch::Tensor& x) = 0;   // (N, C, H, W), same shape out
  virtual torch::Tensor weight(const torch::Tensor& w) = 0;  // (O, I/g, k, k), same shape out
  // The conv's bias (O), called after weight(): as an int8 kernel adds it (int32
  // at input step x weight step). Identity unless quantized.
  virtual torch::Tensor bias(const torch::Tensor& b) { return b; }
  // The conv's raw output (N, O, H, W) -> its activation applied, (N, O, H, W),
  // with the output rounded to int8 where the plan says so.
  virtual torch::Tensor output(const torch::Tensor& y, Act act) { return apply_act(y, act); }
  // A module run several times per forward (Cascade R-CNN's RPN head, once per
  // FPN level) has one observer per call site: the owner sets the site before
  // each call (set_quant_site).
  int64_t site = 0;
};

// Sets the call site of every quantizer under `m` (no-op for float models).
void set_quant_site(torch::nn::Module& m, int64_t site);

struct ConvBNOptions {
  int64_t in, out, kernel = 1, stride = 1, groups = 1;
  Act act = Act::None;
  bool bn = true;  // false: a plain conv with bias (heads)
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
  // QAT: when set, BN is folded into the conv weight (W * gamma / sigma) and the
  // folded weight is fake-quantized, so int8 export computes what training saw.
  std::shared_ptr<ConvQuantHook> conv_quant;
  // Frozen BN: running statistics only (no batch statistics, no updates): the
  // folded conv is then exactly conv(x, W_fold) + (beta - mean * gamma / sigma).
  bool bn_frozen = false;

  // The folded weight and bias that BN's running statistics give ((O, ...), (O)).
  std::pair<torch::Tensor, torch::Tensor> folded_weight_bias() const;

 private:
  torch::Tensor forward_quant(const torch::Tensor& x);
};
TORCH_MODULE(ConvBNLayer);

// Squeeze-and-excitation: global pool -> 1x1 conv + ReLU -> 1x1 conv + hard-sigmoid
// -> channel-wise scale. Registered as `conv1` and `conv2` (with biases).
struct SEBlockImpl : torch::nn::Module {
  SEBlockImpl(int64_t channels, int64_t mid);
  torch::Tensor forward(const torch::Tensor& x);  // (N, C, H, W) -> (N, C, H, W)

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  std::shared_ptr<ConvQuantHook> conv1_quant, conv2_quant;  // QAT (see ConvBNLayer)
};
TORCH_MODULE(SEBlock);

}  // namespace compress
