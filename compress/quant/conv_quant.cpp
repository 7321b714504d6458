#include "compress/quant/conv_quant.h"

#include <torch/torch.h>

#include <tuple>

#include "compress/quant/fake_quant.h"
#include "compress/quant/observers.h"
#include "compress/quant/plan.h"
#include "train/engine/distributed.h"

namespace compress::quant {

ConvQuantImpl::ConvQuantImpl(const QuantOptions& o, int64_t out_channels) : opt(o) {
  const int64_t wn = o.per_channel() ? out_channels : 1;
  weight_scale = register_buffer("weight_scale", torch::zeros({wn}));
  act_scale = register_buffer("act_scale", torch::zeros({1}));
  act_state = register_buffer("act_state", torch::zeros({1}));
  act_accum = register_buffer("act_accum", torch::zeros({1}));
  if (o.activation_quantize_type == ActivationQuantizeType::RangeAbsMax) {
    act_window = register_buffer("act_window", torch::zeros({1, o.window_size}));
    act_iter = register_buffer("act_iter", torch::zeros({1}, torch::kLong));
  }
  out_scale = register_buffer("out_scale", torch::zeros({1}));
  out_state = register_buffer("out_state", torch::zeros({1}));
  out_accum = register_buffer("out_accum", torch::zeros({1}));
  // uint8, not bool: gloo cannot broadcast bool tensors.
  plan_round_output = register_buffer("plan_round_output", torch::zeros({1}, torch::kUInt8));
  plan_input_on_grid = register_buffer("plan_input_on_grid", torch::zeros({1}, torch::kUInt8));
}

SitePlan ConvQuantImpl::plan(int64_t site) const {
  TORCH_CHECK(site >= 0 && site < sites(), "ConvQuant: site ", site, " of ", sites());
  SitePlan p;
  p.input_on_grid = plan_input_on_grid[site].item<uint8_t>() != 0;
  p.round_output = plan_round_output[site].item<uint8_t>() != 0;
  if (static_cast<size_t>(site) < producers_.size()) std::tie(p.producer, p.producer_site) = producers_[site];
  return p;
}

void ConvQuantImpl::set_plan(const std::vector<SitePlan>& p) {
  TORCH_CHECK(!p.empty(), "ConvQuant: a plan needs at least one site");
  torch::NoGradGuard no_grad;
  const auto n = static_cast<int64_t>(p.size());
  if (n != sites()) {  // in place: the module's buffer entries stay these tensors
    for (auto* t : {&act_scale, &act_state, &act_accum, &act_iter, &out_scale, &out_state, &out_accum,
                    &plan_round_output, &plan_input_on_grid})
      if (t->defined()) t->resize_({n}).zero_();
    if (act_window.defined()) act_window.resize_({n, opt.window_size}).zero_();
  }
  producers_.clear();
  for (const auto& sp : p) producers_.push_back({sp.producer, sp.producer_site});
  for (int64_t k = 0; k < n; ++k) {
    plan_input_on_grid[k].fill_(static_cast<int64_t>(p[k].input_on_grid));
    plan_round_output[k].fill_(static_cast<int64_t>(p[k].round_output));
  }
}

float ConvQuantImpl::output_step(int64_t site) const {
  return plan(site).round_output ? out_scale[site].item<float>() : 0.f;
}

float ConvQuantImpl::input_step(int64_t site) const {
  const SitePlan p = plan(site);
  if (p.input_on_grid) {
    TORCH_CHECK(p.producer, "ConvQuant: the plan reads this input on a producer's grid but names no producer");
    return p.producer->output_step(p.producer_site);
  }
  return act_scale[site].item<float>();
}

torch::Tensor ConvQuantImpl::bias_step(const torch::Tensor& weight_steps, int64_t site) const {
  return weight_steps.detach().to(torch::kFloat32).clamp_min(1e-12) * input_step(site);
}

torch::Tensor ConvQuantImpl::bias(const torch::Tensor& b) {
  if (recorder || !b.defined()) return b;
  const int64_t k = checked_site();
  if (!(input_step(k) > 0)) return b;  // never observed: nothing to round to yet
  auto step = bias_step(weight_scale, k).to(b.options());
  if (step.numel() == 1) step = step.expand_as(b);
  torch::Tensor bq;
  {
    torch::NoGradGuard no_grad;
    bq = torch::round(b.detach() / step).clamp_(-2147483648.0, 2147483647.0) * step;
  }
  if (torch::GradMode::is_enabled() && b.requires_grad()) return b + (bq - b.detach());  // straight-through
  return bq;
}

int64_t ConvQuantImpl::checked_site() const {
  TORCH_CHECK(site >= 0 && site < sites(), "ConvQuant: call site ", site, " but the plan has ", sites(),
              " (a module run more often than when the plan was made)");
  return site;
}

void ConvQuantImpl::observe_output(const torch::Tensor& y, bool non_negative, int64_t k) {
  // Always moving_average_abs_max, as the reference's out-scale pass.
  const int64_t levels = non_negative ? (int64_t{1} << opt.activation_bits) - 1 : qmax_for_bits(opt.activation_bits);
  const auto range = moving_average_range(out_state.narrow(0, k, 1), out_accum.narrow(0, k, 1),
                                          batch_abs_max(y, /*all_ranks=*/true), opt.moving_rate);
  out_scale.narrow(0, k, 1).copy_(step_of_range(range, levels));
}

torch::Tensor int8_hard_swish(const torch::Tensor& y) {
  // float32 steps, as the exported graph stores them.
  const double step = static_cast<double>(6.f / 255), code_step = static_cast<double>(1.f / 255);
  auto hsig = torch::clamp(torch::round((y.detach() + 3.0) / step), 0.0, 255.0) * code_step;
  if (torch::GradMode::is_enabled() && y.requires_grad()) {
    const auto f = torch::hardsigmoid(y);
    hsig = f + (hsig - f.detach());  // forward: the codes; backward: hard-sigmoid's gradient
  }
  return y * hsig;
}

torch::Tensor ConvQuantImpl::output(const torch::Tensor& y, Act act) {
  const bool after = rounds_after_act(act, opt);
  if (recorder) return record_output(*recorder, *this, apply_act(y, act), after);
  const int64_t k = checked_site();
  const torch::Tensor pre = after ? apply_act(y, act) : y;  // where the rounding sits
  const bool non_negative = after && non_negative_act(act);
  // Calibration observes every site, so that --analyze's re-plans find the
  // steps ready; training only the outputs it rounds (one pass less elsewhere).
  const bool rounds = plan(k).round_output;
  if (calibrating || (is_training() && rounds)) observe_output(pre, non_negative, k);
  const float s = rounds ? out_scale[k].item<float>() : 0.f;
  if (!(s > 0)) return after ? pre : apply_act(y, act);
  auto q = fake_quant_act(pre, out_scale.narrow(0, k, 1), opt.activation_bits, non_negative);
  if (probe) q = probe(*this, "output", pre, q);
  if (after) return q;
  return act == Act::HardSwish ? int8_hard_swish(q) : apply_act(q, act);
}

void ConvQuantImpl::observe(const torch::Tensor& x, int64_t k) {
  torch::NoGradGuard no_grad;
  ObserverState st;
  st.state = act_state.narrow(0, k, 1);
  st.accum = act_accum.narrow(0, k, 1);
  if (act_window.defined()) st.window = act_window[k], st.iter = act_iter.narrow(0, k, 1);
  const auto range =
      observe_range(opt.activation_quantize_type, st, batch_abs_max(x, /*all_ranks=*/true), opt.moving_rate);
  act_scale.narrow(0, k, 1).copy_(step_of_range(range, qmax_for_bits(opt.activation_bits)));
}

torch::Tensor ConvQuantImpl::input(const torch::Tensor& x) {
  if (recorder) return record_input(*recorder, *this, x);
  const int64_t k = checked_site();
  const bool learning = is_training() || calibrating;
  if (learning) observe(x, k);
  if (plan(k).input_on_grid) return x;  // a producer's rounded output, on its grid already
  if (!learning && opt.activation_quantize_type == ActivationQuantizeType::AbsMax) {
    // Dynamic: this batch's own max in evaluation too (the reference's rule),
    // local to this process and not stored.
    const auto s = step_of_range(batch_abs_max(x, /*all_ranks=*/false), qmax_for_bits(opt.activation_bits));
    return fake_quant_act(x, s, opt.activation_bits, /*non_negative=*/false);
  }
  const auto q = fake_quant_act(x, act_scale.narrow(0, k, 1), opt.activation_bits, /*non_negative=*/false);
  return probe ? probe(*this, "input", x, q) : q;
}

torch::Tensor ConvQuantImpl::weight(const torch::Tensor& w) {
  if (recorder) return w;
  const bool per_channel = opt.per_channel();
  const int64_t bits = opt.weight_grid_bits();
  const auto s = per_channel ? channel_scales(w, bits) : tensor_scale(w, bits);
  {
    torch::NoGradGuard no_grad;
    weight_scale.copy_(s);
  }
  return fake_quant(w, s, per_channel ? 0 : -1, bits);
}

}  // namespace compress::quant
