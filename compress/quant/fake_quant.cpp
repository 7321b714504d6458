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
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor& x, const torch::Tensor& scale,
                               int64_t axis, int64_t bits) {
    const double q = static_cast<double>(qmax_for_bits(bits));
    auto s = scale.to(x.scalar_type()).clamp_min(kMinScale);
    if (axis >= 0) {
      std::vector<int64_t> shape(x.dim(), 1);
      shape[axis] = -1;
      s = s.view(shape);
    } else {
      s = s.reshape({});
    }
    const auto bound = s * q;
    return torch::clamp(x, -bound, bound).div_(s).round_().mul_(s);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list grad) {
    return {grad[0], torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor fake_quant(const torch::Tensor& x, const torch::Tensor& scale, int64_t axis, int64_t bits) {
  TORCH_CHECK(bits >= 2 && bits <= 16, "fake_quant: bits must be in [2, 16], got ", bits);
  TORCH_CHECK(axis < 0 || scale.numel() == x.size(axis), "fake_quant: ", scale.numel(), " scales for axis ", axis,
              " of size ", x.size(axis));
  return FakeQuantSTE::apply(x, scale.detach(), axis, bits);
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
