#include "train/models/layers.h"

#include <atomic>

#include <torch/nn/functional.h>

#include "train/models/conv_padding.h"
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
    case Act::None:
      return x;
    case Act::ReLU:
      return torch::relu(x);
    case Act::ReLU6:
      return torch::hardtanh(x, 0.0, 6.0);
    case Act::HardSwish:
      return torch::hardswish(x);  // x * relu6(x + 3) / 6
    case Act::HardSigmoid:
      return torch::hardsigmoid(x);  // relu6(x + 3) / 6
    case Act::LeakyReLU:
      return torch::leaky_relu(x, 0.1);
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
  if (!bn)
    return {conv->weight,
            conv->bias.defined() ? conv->bias : torch::zeros({conv->weight.size(0)}, conv->weight.options())};
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
  if (!bn) {
    const auto w = conv_quant->weight(conv->weight);  // first: bias() reads its scales
    return conv2d(w, conv->bias.defined() ? conv_quant->bias(conv->bias) : conv->bias);
  }
  const auto factor = bn->weight / torch::sqrt(bn->running_var + bn->options.eps());  // (O)
  if (is_training() && !bn_frozen) {
    // The fold factor cancels here (the conv output is divided by it again before
    // BN), so any nonzero factor gives the same function; a gamma of 0 (ResNet's
    // zero-initialised residual BNs) would give 0 / 0. Such channels use a tiny
    // stand-in. Per-channel weight grids are scale-invariant, so this is exact
    // for channel_wise_abs_max.
    const auto tiny = torch::full_like(factor, 1e-6);
    const auto safe = torch::where(factor.abs() < 1e-6, torch::where(factor < 0, -tiny, tiny), factor);
    const auto w = conv_quant->weight(conv->weight * safe.view({-1, 1, 1, 1}));
    return batch_norm(*bn, conv2d(w, {}) / safe.view({1, -1, 1, 1}));
  }
  const auto w = conv_quant->weight(conv->weight * factor.view({-1, 1, 1, 1}));
  return conv2d(w, conv_quant->bias(bn->bias - bn->running_mean * factor));
}

torch::Tensor ConvBNLayerImpl::forward(const torch::Tensor& x) {
  if (conv_quant) {
    torch::Tensor y = forward_quant(x);
    return conv_quant->output(y, act);
  }
  torch::Tensor y = conv->forward(x);
  if (bn) y = batch_norm(*bn, y);
  return apply_act(y, act);
}

SEBlockImpl::SEBlockImpl(int64_t channels, int64_t mid) {
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, mid, 1)));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(mid, channels, 1)));
}

torch::Tensor SEBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor s = x.mean({2, 3}, /*keepdim=*/true);  // (N, C, 1, 1)
  // 1x1 convs, stride 1; QAT's quantizer applies the activation (and the plan's output rounding).
  auto run = [](torch::nn::Conv2d& c, const std::shared_ptr<ConvQuantHook>& q, const torch::Tensor& in, Act act) {
    if (!q) return apply_act(c->forward(in), act);
    const auto x = q->input(in);
    const auto w = q->weight(c->weight);
    return q->output(torch::conv2d(x, w, q->bias(c->bias)), act);
  };
  s = run(conv1, conv1_quant, s, Act::ReLU);
  s = run(conv2, conv2_quant, s, Act::HardSigmoid);
  return x * s;
}

void set_quant_site(torch::nn::Module& m, int64_t site) {
  for (const auto& sub : m.modules())
    if (auto* h = dynamic_cast<ConvQuantHook*>(sub.get())) h->site = site;
}

}  // namespace compress
