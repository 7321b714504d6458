#include "compress/quant/fake_quant.h"

#include <torch/torch.h>

namespace compress::quant {
namespace {

constexpr double kMinScale = 1e-12;

struct FakeQuantSTE : torch::autograd::Function<FakeQuantSTE> {
  // clamp(x, -Q s, Q s) / s, rounded, times s: four vectorized passes over one
  // temporary. ATen's fake_quantize_* kernels compute the same thing ~10x slower on
  // CPU (per element, with a mask for their own backward), which alone made a QAT
  // step 1.5x a float one.
  // lo, hi: the step range (e.g. -127, 127 for weights; -128, 127 or 0, 255 for activations).
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor& x, const torch::Tensor& scale,
                               int64_t axis, int64_t lo, int64_t hi) {
    auto s = scale.to(x.scalar_type()).clamp_min(kMinScale);
    if (axis >= 0) {
      std::vector<int64_t> shape(x.dim(), 1);
      shape[axis] = -1;
      s = s.view(shape);
    } else {
      s = s.reshape({});
    }
    // Clamped after the division, on the step grid, so that the saturation value
    // is exactly lo * s or hi * s.
    return (x / s).round_().clamp_(static_cast<double>(lo), static_cast<double>(hi)).mul_(s);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list grad) {
    return {grad[0], torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor fake_quant(const torch::Tensor& x, const torch::Tensor& scale, int64_t axis, int64_t bits) {
  TORCH_CHECK(bits >= 2 && bits <= 16, "fake_quant: bits must be in [2, 16], got ", bits);
  TORCH_CHECK(axis < 0 || scale.numel() == x.size(axis), "fake_quant: ", scale.numel(), " scales for axis ", axis,
              " of size ", x.size(axis));
  const int64_t q = qmax_for_bits(bits);
  return FakeQuantSTE::apply(x, scale.detach(), axis, -q, q);
}

std::pair<int64_t, int64_t> act_range(int64_t bits, bool non_negative) {
  TORCH_CHECK(bits >= 2 && bits <= 16, "fake_quant_act: bits must be in [2, 16], got ", bits);
  if (non_negative) return {0, (int64_t{1} << bits) - 1};
  return {-(int64_t{1} << (bits - 1)), qmax_for_bits(bits)};
}

torch::Tensor fake_quant_act(const torch::Tensor& x, const torch::Tensor& scale, int64_t bits, bool non_negative) {
  TORCH_CHECK(scale.numel() == 1, "fake_quant_act: one scale per tensor, got ", scale.numel());
  const auto [lo, hi] = act_range(bits, non_negative);
  return FakeQuantSTE::apply(x, scale.detach(), -1, lo, hi);
}

torch::Tensor channel_scales(const torch::Tensor& w, int64_t bits) {
  torch::NoGradGuard no_grad;
  return w.detach().abs().reshape({w.size(0), -1}).amax(1) / static_cast<double>(qmax_for_bits(bits));
}

torch::Tensor tensor_scale(const torch::Tensor& w, int64_t bits) {
  torch::NoGradGuard no_grad;
  return (w.detach().abs().max() / static_cast<double>(qmax_for_bits(bits))).reshape({1});
}

}  // namespace compress::quant
