#include "train/models/layers.h"

#include <atomic>

#include <torch/nn/functional.h>

#include "train/models/conv_padding.h"
#include "train/models/cost.h"
#include "train/util/error.h"

namespace compress {

namespace {
std::atomic<BatchNormForward> g_bn_forward{nullptr};
}  // namespace

void set_batch_norm_forward(BatchNormForward f) { g_bn_forward.store(f); }

torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  const auto f = g_bn_forward.load();
  return f && bn.is_training() ? f(bn, x) : bn.forward(x);
}


Act act_from_name(const std::string& name) {
  if (name == "none") return Act::None;
  if (name == "relu") return Act::ReLU;
  if (name == "relu6") return Act::ReLU6;
  if (name == "hard_swish") return Act::HardSwish;
  if (name == "hard_sigmoid") return Act::HardSigmoid;
  if (name == "leaky_relu") return Act::LeakyReLU;
  fail("unknown activation '", name, "' (valid: none, relu, relu6, hard_swish, hard_sigmoid, leaky_relu)");
}

torch::Tensor apply_act(const torch::Tensor& x, Act act) {
  switch (act) {
    case Act::None: return x;
    case Act::ReLU: return torch::relu(x);
    case Act::ReLU6: return torch::hardtanh(x, 0.0, 6.0);
    case Act::HardSwish: return torch::hardswish(x);      // x * relu6(x + 3) / 6
    case Act::HardSigmoid: return torch::hardsigmoid(x);  // relu6(x + 3) / 6
    case Act::LeakyReLU: return torch::leaky_relu(x, 0.1);
  }
  return x;
}

int64_t make_divisible(double v, int64_t divisor) {
  int64_t n = std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

ConvBNLayerImpl::ConvBNLayerImpl(const ConvBNOptions& o) : act(o.act) {
  TORCH_CHECK(o.in % o.groups == 0 && o.out % o.groups == 0, "ConvBNLayer: channels ", o.in, "->", o.out,
              " not divisible by groups ", o.groups);
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in, o.out, o.kernel)
                                                       .stride(o.stride)
                                                       .padding((o.kernel - 1) / 2)
                                                       .groups(o.groups)
                                                       .bias(!o.bn)));
  // Momentum 0.1 is the reference's (Paddle batch_norm momentum 0.9 keeps 90% of the old statistics).
  if (o.bn) bn = register_module("bn", torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(o.out).momentum(0.1)));
}

std::pair<torch::Tensor, torch::Tensor> ConvBNLayerImpl::folded_weight_bias() const {
  if (!bn) return {conv->weight, conv->bias.defined() ? conv->bias : torch::zeros({conv->weight.size(0)}, conv->weight.options())};
  const auto factor = bn->weight / torch::sqrt(bn->running_var + bn->options.eps());  // (O)
  return {conv->weight * factor.view({-1, 1, 1, 1}), bn->bias - bn->running_mean * factor};
}

// conv(q(x), q(W * f)) with f = gamma / sqrt(running_var + eps). In training with
// live BN the conv output is divided by f again and batch-normalized, so BN still
// sees batch statistics (Jacob et al. 2018, Sec. 3.2; PyTorch's ConvBn2d does the same).
torch::Tensor ConvBNLayerImpl::forward_quant(const torch::Tensor& x_in) {
  const auto& o = conv->options;
  const torch::Tensor x = conv_quant->input(x_in);
  const auto* pad = conv_padding_numbers(o);
  TORCH_CHECK(pad, "ConvBNLayer: quantized convs take numeric padding, not 'valid' or 'same'");
  auto conv2d = [&](const torch::Tensor& w, const torch::Tensor& b) {
    return torch::conv2d(x, w, b, o.stride(), *pad, o.dilation(), o.groups());
  };
  if (!bn) return conv2d(conv_quant->weight(conv->weight), conv->bias);
  const auto factor = bn->weight / torch::sqrt(bn->running_var + bn->options.eps());  // (O)
  const auto w = conv_quant->weight(conv->weight * factor.view({-1, 1, 1, 1}));
  if (is_training() && !bn_frozen) return batch_norm(*bn, conv2d(w, {}) / factor.view({1, -1, 1, 1}));
  return conv2d(w, bn->bias - bn->running_mean * factor);
}

torch::Tensor ConvBNLayerImpl::forward(const torch::Tensor& x) {
  if (conv_quant) {
    torch::Tensor y = forward_quant(x);
    cost_detail::record_output(this, y.size(2), y.size(3));
    // ReLU and ReLU6 fold into an int8 conv's output range; other activations
    // run on the dequantized output.
    if (act == Act::None || act == Act::ReLU || act == Act::ReLU6)
      return conv_quant->output(apply_act(y, act), act != Act::None);
    if (act == Act::HardSwish) return conv_quant->hard_swish(conv_quant->output(y, false));
    return apply_act(conv_quant->output(y, false), act);
  }
  torch::Tensor y = conv->forward(x);
  if (bn) y = batch_norm(*bn, y);
  cost_detail::record_output(this, y.size(2), y.size(3));
  return apply_act(y, act);
}

SEBlockImpl::SEBlockImpl(int64_t channels, int64_t mid) {
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, mid, 1)));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(mid, channels, 1)));
}

torch::Tensor SEBlockImpl::forward(const torch::Tensor& x) {
  cost_detail::record_output(this, 1, 1);
  torch::Tensor s = x.mean({2, 3}, /*keepdim=*/true);  // (N, C, 1, 1)
  auto run = [](torch::nn::Conv2d& c, const std::shared_ptr<ConvQuantHook>& q, const torch::Tensor& in) {
    if (!q) return c->forward(in);
    return torch::conv2d(q->input(in), q->weight(c->weight), c->bias);  // 1x1, stride 1
  };
  s = torch::relu(run(conv1, conv1_quant, s));
  s = torch::hardsigmoid(run(conv2, conv2_quant, s));
  return x * s;
}

}  // namespace compress
