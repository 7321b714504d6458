#include "compress/quant/fake_quant.h"

#include <torch/torch.h>

namespace compress::quant {
namespace {

constexpr double kMinScale = 1e-12;

struct FakeQuantSTE : torch::autograd::Function<FakeQuantSTE> {
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor& x, const torch::Tensor& scale,
                               int64_t axis, int64_t bits) {
    const int64_t q = qmax_for_bits(bits);
    const auto s = scale.to(torch::kFloat32).clamp_min(kMinScale);
    if (axis < 0) {
      const auto zp = torch::zeros({1}, s.options().dtype(torch::kInt32));
      return torch::fake_quantize_per_tensor_affine(x, s.reshape({1}), zp, -q, q);
    }
    const auto zp = torch::zeros({s.numel()}, s.options().dtype(torch::kInt32));
    return torch::fake_quantize_per_channel_affine(x, s.reshape({-1}), zp, axis, -q, q);
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
