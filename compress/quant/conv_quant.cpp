#include "compress/quant/conv_quant.h"

#include <torch/torch.h>

#include "compress/quant/fake_quant.h"
#include "train/engine/distributed.h"

namespace compress::quant {

ConvQuantImpl::ConvQuantImpl(const QuantOptions& o, int64_t out_channels) : opt(o) {
  const int64_t wn = o.weight_quantize_type == "channel_wise_abs_max" ? out_channels : 1;
  weight_scale = register_buffer("weight_scale", torch::zeros({wn}));
  act_scale = register_buffer("act_scale", torch::zeros({1}));
  act_state = register_buffer("act_state", torch::zeros({1}));
  act_accum = register_buffer("act_accum", torch::zeros({1}));
  if (o.activation_quantize_type == "range_abs_max") {
    act_window = register_buffer("act_window", torch::zeros({o.window_size}));
    act_iter = register_buffer("act_iter", torch::zeros({1}, torch::kLong));
  }
}

void ConvQuantImpl::observe(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  // max|x| of this batch in one pass, without an |x| temporary.
  const auto [lo, hi] = torch::aminmax(x.detach());
  const auto cur = torch::maximum(lo.neg(), hi).to(torch::kFloat32).reshape({1});
  // Several processes: every rank observes the max over all ranks' batches, so
  // the scales stay identical (peers that reduce only gradients let them drift).
  if (auto d = dist_context()) d->allreduce_max(cur);
  const double q = static_cast<double>(qmax_for_bits(opt.activation_bits));
  if (opt.activation_quantize_type == "moving_average_abs_max") {
    act_state.mul_(opt.moving_rate).add_(1.0);
    act_accum.mul_(opt.moving_rate).add_(cur);
    act_scale.copy_(act_accum / act_state / q);
  } else if (opt.activation_quantize_type == "abs_max") {
    act_scale.copy_(cur / q);
  } else {  // range_abs_max
    const int64_t slot = act_iter.item<int64_t>() % opt.window_size;
    act_window.narrow(0, slot, 1).copy_(cur);
    act_iter.add_(1);
    act_scale.copy_(act_window.max().reshape({1}) / q);
  }
}

torch::Tensor ConvQuantImpl::input(const torch::Tensor& x) {
  if (is_training() || calibrating) observe(x);
  return fake_quant(x, act_scale, -1, opt.activation_bits);
}

torch::Tensor ConvQuantImpl::weight(const torch::Tensor& w) {
  const bool per_channel = opt.weight_quantize_type == "channel_wise_abs_max";
  const auto s = per_channel ? channel_scales(w, opt.weight_bits) : tensor_scale(w, opt.weight_bits);
  {
    torch::NoGradGuard no_grad;
    weight_scale.copy_(s);
  }
  return fake_quant(w, s, per_channel ? 0 : -1, opt.weight_bits);
}

}  // namespace compress::quant
