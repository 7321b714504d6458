#include "compress/quant/conv_quant.h"

#include <torch/torch.h>

#include <mutex>
#include <unordered_map>

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
  if (o.quantize_outputs) {
    out_scale = register_buffer("out_scale", torch::zeros({1}));
    out_state = register_buffer("out_state", torch::zeros({1}));
    out_accum = register_buffer("out_accum", torch::zeros({1}));
  }
}

namespace {

// Tensors that output quantizers produced in evaluation. Weak references: a
// freed tensor's address may be reused by an unrelated one, which then must
// not count as quantized.
std::mutex tagged_mu;
std::unordered_map<const c10::TensorImpl*, c10::weak_intrusive_ptr<c10::TensorImpl>> tagged;

void tag(const torch::Tensor& t) {
  std::lock_guard<std::mutex> lock(tagged_mu);
  if (tagged.size() > 512)
    for (auto it = tagged.begin(); it != tagged.end();) it = it->second.expired() ? tagged.erase(it) : std::next(it);
  tagged.insert_or_assign(t.unsafeGetTensorImpl(), c10::weak_intrusive_ptr<c10::TensorImpl>(t.getIntrusivePtr()));
}

bool is_tagged(const torch::Tensor& t) {
  std::lock_guard<std::mutex> lock(tagged_mu);
  const auto it = tagged.find(t.unsafeGetTensorImpl());
  if (it == tagged.end()) return false;
  const auto alive = it->second.lock();
  return alive && alive.get() == t.unsafeGetTensorImpl();
}

}  // namespace

float ConvQuantImpl::output_step() const { return out_scale.defined() ? out_scale.item<float>() : 0.f; }

void ConvQuantImpl::observe_output(const torch::Tensor& y, bool non_negative) {
  torch::NoGradGuard no_grad;
  const auto [lo, hi] = torch::aminmax(y.detach());
  const auto cur = torch::maximum(lo.neg(), hi).to(torch::kFloat32).reshape({1});
  if (auto d = dist_context()) d->allreduce_max(cur);
  const int64_t levels = non_negative ? (int64_t{1} << opt.activation_bits) - 1 : qmax_for_bits(opt.activation_bits);
  out_state.mul_(opt.moving_rate).add_(1.0);
  out_accum.mul_(opt.moving_rate).add_(cur);
  out_scale.copy_(out_accum / out_state / static_cast<double>(levels));
}

torch::Tensor ConvQuantImpl::output(const torch::Tensor& y, bool non_negative) {
  if (!out_scale.defined()) return y;
  if (is_training() || calibrating) {
    observe_output(y, non_negative);  // training sees float outputs, as the reference's out-scale pass
    return y;
  }
  const float s = output_step();
  if (!(s > 0)) return y;
  torch::Tensor q;
  if (non_negative) {  // uint8 with zero point 0: steps 0 .. 2^bits - 1
    const double top = static_cast<double>((int64_t{1} << opt.activation_bits) - 1);
    q = torch::clamp(torch::round(y / s), 0.0, top) * s;
  } else {
    q = fake_quant(y, out_scale, -1, opt.activation_bits);
  }
  tag(q);
  return q;
}

torch::Tensor ConvQuantImpl::hard_swish(const torch::Tensor& y) {
  if (is_training() || calibrating || !(output_step() > 0)) return apply_act(y, Act::HardSwish);
  // float32 steps, as the exported graph stores them.
  const double step = static_cast<double>(6.f / 255), code_step = static_cast<double>(1.f / 255);
  return y * (torch::clamp(torch::round((y + 3.0) / step), 0.0, 255.0) * code_step);
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
  if (!is_training() && !calibrating && out_scale.defined() && is_tagged(x)) return x;  // on a producer's grid
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
