#include "train/engine/sync_bn.h"

#include <torch/torch.h>

#include <atomic>
#include <cmath>

#include "train/engine/distributed.h"

namespace compress {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// y = (x - mean) * invstd * gamma + beta with mean and invstd of the global
// batch (given); backward adds the terms through the global statistics:
// dx = gamma * invstd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat)), sums over
// all ranks (M elements per channel in total). dgamma, dbeta stay local: the
// gradient all-reduce averages them like every other parameter.
struct SyncBNFunction : torch::autograd::Function<SyncBNFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, const torch::Tensor& mean, const torch::Tensor& invstd,
                               double count, int64_t call) {
    const auto xhat = (x - mean.view({1, -1, 1, 1})) * invstd.view({1, -1, 1, 1});
    ctx->save_for_backward({xhat, weight, invstd});
    ctx->saved_data["count"] = count;
    ctx->saved_data["call"] = call;
    return xhat * weight.view({1, -1, 1, 1}) + bias.view({1, -1, 1, 1});
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &xhat = saved[0], &weight = saved[1], &invstd = saved[2];
    const double m = ctx->saved_data["count"].toDouble();
    const auto dy = grads[0];
    const auto sdy = dy.sum({0, 2, 3});            // (C)
    const auto sdyx = (dy * xhat).sum({0, 2, 3});  // (C)
    // (2C + 1): summed over ranks below; the last entry checks that every rank
    // is reducing the same layer (autograd must run the layers in one order).
    const double call = static_cast<double>(ctx->saved_data["call"].toInt());
    auto g = torch::cat({sdy, sdyx, torch::full({1}, call, sdy.options())});
    const auto d = dist_context();
    if (d) {
      d->allreduce_mean({g});
      g.mul_(d->world_size());
    }
    const int64_t c = sdy.size(0);
    if (d)
      TORCH_CHECK(std::abs(g[2 * c].item<double>() / d->world_size() - call) < 0.5,
                  "SyncBN: ranks reduced different layers in the backward pass (call ", call, ")");
    const auto gsdy = g.narrow(0, 0, c).view({1, -1, 1, 1}), gsdyx = g.narrow(0, c, c).view({1, -1, 1, 1});
    const auto dx = (weight * invstd).view({1, -1, 1, 1}) / m * (dy * m - gsdy - xhat * gsdyx);
    return {dx, sdyx, sdy, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "sync_batch_norm: expected (N, C, H, W), got ", x.dim(), "-D");
  const int64_t c = x.size(1);
  torch::Tensor mean, var, invstd;
  double count = 0;
  {
    torch::NoGradGuard no_grad;
    // Per-channel sum, sum of squares and element count, in double, over all ranks.
    const auto xd = x.detach().to(torch::kDouble);
    auto stats = torch::cat({xd.sum({0, 2, 3}), (xd * xd).sum({0, 2, 3}),
                             torch::full({1}, static_cast<double>(x.numel() / c), xd.options())})
                     .to(torch::kFloat);
    // float32 all-reduce; sums are exact enough at these sizes after the double pass.
    const auto d = dist_context();
    if (d) {
      d->allreduce_mean({stats});
      stats.mul_(d->world_size());
    }
    const auto s = stats.to(torch::kDouble);
    count = s[2 * c].item<double>();
    const auto m = s.narrow(0, 0, c) / count;
    const auto v = (s.narrow(0, c, c) / count - m * m).clamp_min(0);
    mean = m.to(x.scalar_type());
    var = v.to(x.scalar_type());
    invstd = (v + bn.options.eps()).rsqrt().to(x.scalar_type());
    const double mom = bn.options.momentum().value_or(0.1);
    bn.running_mean.mul_(1 - mom).add_(mean * mom);
    bn.running_var.mul_(1 - mom).add_(var * (count / std::max(count - 1, 1.0)) * mom);
    bn.num_batches_tracked.add_(1);
  }
  static std::atomic<int64_t> calls{0};  // forward order, the same on every rank
  return SyncBNFunction::apply(x, bn.weight, bn.bias, mean, invstd, count, calls++ % 1000000);
}

}  // namespace compress
