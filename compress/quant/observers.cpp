#include "compress/quant/observers.h"

#include <torch/torch.h>

#include "train/engine/distributed.h"

namespace compress::quant {

at::Tensor batch_abs_max(const at::Tensor& x, bool all_ranks) {
  torch::NoGradGuard no_grad;
  const auto [lo, hi] = torch::aminmax(x.detach());
  auto m = torch::maximum(lo.neg(), hi).to(torch::kFloat32).reshape({1});
  if (all_ranks)
    if (auto d = dist_context()) d->allreduce_max(m);
  return m;
}

at::Tensor moving_average_range(at::Tensor state, at::Tensor accum, const at::Tensor& m, double rate) {
  torch::NoGradGuard no_grad;
  state.mul_(rate).add_(1.0);
  accum.mul_(rate).add_(m);
  return accum / state;
}

at::Tensor window_range(at::Tensor window, at::Tensor iter, const at::Tensor& m) {
  torch::NoGradGuard no_grad;
  const int64_t slot = iter.item<int64_t>() % window.size(0);
  window.narrow(0, slot, 1).copy_(m);
  iter.add_(1);
  return window.max().reshape({1});
}

at::Tensor step_of_range(const at::Tensor& range, int64_t levels) {
  TORCH_CHECK(levels > 0, "step_of_range: levels must be positive, got ", levels);
  return (range / static_cast<double>(levels)).clamp_min(kMinObservedStep);
}

at::Tensor observe_range(ActivationQuantizeType type, ObserverState& s, const at::Tensor& m, double moving_rate) {
  switch (type) {
    case ActivationQuantizeType::MovingAverageAbsMax:
      return moving_average_range(s.state, s.accum, m, moving_rate);
    case ActivationQuantizeType::AbsMax:
      return m;
    case ActivationQuantizeType::RangeAbsMax:
      return window_range(s.window, s.iter, m);
  }
  TORCH_CHECK(false, "observe_range: unknown activation_quantize_type");
}

}  // namespace compress::quant
