// The fake-quantization state QAT attaches to one conv: the weight quantizer
// (per channel or per tensor, abs-max of the current weight), the input
// activation observer, the output observer, and this conv's part of the
// model's quantization plan (compress/quant/plan.h), which decides what is
// rounded where. Training, evaluation and export all read the plan.
//
// Buffers (saved in checkpoints under `<conv>_quant.`), S = call sites (1, or
// one per FPN level for Cascade R-CNN's shared RPN head):
//   weight_scale (O) or (1)   last weight steps, max|W| / Q (what export writes)
//   act_scale (S)             input step, max / Q (Q = 2^(bits-1) - 1)
//   act_state, act_accum (S)  moving_average_abs_max state, both from 0:
//                               state = r * state + 1; accum = r * accum + max|x|;
//                               act_scale = accum / state / Q
//   act_window (S, window_size), act_iter (S)   range_abs_max: the max of the last
//                               window_size batch maxima (one per step per site)
//   out_scale, out_state, out_accum (S)   the output's step by
//                               moving_average_abs_max: max / Q, or after ReLU
//                               max / (2^bits - 1) (unsigned). Observed in
//                               training where the plan rounds, and in
//                               calibration at every site, so that a re-plan
//                               (set_conv_float, --analyze) finds it ready.
//   plan_round_output (S)     0/1: the output is rounded to int8 (training too)
//   plan_input_on_grid (S)    0/1: the input is a producer's rounded output,
//                               read as is (no second rounding, no observer use)
//
// abs_max activations are dynamic: every batch's own max, in training and in
// evaluation (the reference's rule); they cannot be exported.
#pragma once
#include <functional>
#include <utility>
#include <vector>

#include "compress/quant/quant_options.h"
#include "train/models/layers.h"

namespace compress::quant {

struct QuantPlanRecorder;  // compress/quant/plan.cpp

// Where an int8 conv's output rounding sits: after the activation for None,
// ReLU and ReLU6 (an int8 conv's output range holds them), before any other
// (h-swish runs in its int8 form, the rest in float on the rounded values),
// unless quant.round_after_activation puts it after every activation.
inline bool rounds_after_act(Act a, const QuantOptions& o) {
  return o.round_after_activation || a == Act::None || a == Act::ReLU || a == Act::ReLU6;
}
// Whether an output rounded after `a` is on the unsigned grid [0, 255]
// (ReLU, ReLU6, hard-sigmoid: never negative) or the signed one.
inline bool non_negative_act(Act a) { return a == Act::ReLU || a == Act::ReLU6 || a == Act::HardSigmoid; }

struct ConvQuantImpl;

struct SitePlan {
  bool input_on_grid = false;
  bool round_output = false;
  // With input_on_grid: whose rounded output the input is (not saved; the
  // planner derives it again whenever a model is wrapped).
  const ConvQuantImpl* producer = nullptr;
  int64_t producer_site = 0;
};

struct ConvQuantImpl : ConvQuantHook {
  ConvQuantImpl(const QuantOptions& o, int64_t out_channels);
  torch::Tensor input(const torch::Tensor& x) override;
  torch::Tensor weight(const torch::Tensor& w) override;
  // round(b / (s_in * s_w)) * s_in * s_w, per output channel (straight-through
  // in training): the int32 bias an int8 kernel adds to its sums.
  torch::Tensor bias(const torch::Tensor& b) override;
  // Where the plan rounds an output: onto the signed [-128, 127] or (after
  // ReLU) unsigned [0, 255] grid at out_scale, straight-through in training.
  // With h-swish: relu6(y + 3) rounded to the uint8 grid of step 6/255 (the clip
  // is its saturation), read as hard-sigmoid(y) = code / 255, times y. ONNX
  // Runtime runs exactly this as QLinearAdd then QLinearMul.
  torch::Tensor output(const torch::Tensor& y, Act act) override;
  // Update the activation observers in training mode, or when calibrating (PTQ).
  bool calibrating = false;

  QuantOptions opt;
  torch::Tensor weight_scale, act_scale, act_state, act_accum, act_window, act_iter;
  torch::Tensor out_scale, out_state, out_accum;
  torch::Tensor plan_round_output, plan_input_on_grid;

  int64_t sites() const { return act_scale.size(0); }
  SitePlan plan(int64_t site) const;
  // Installs the plan; a new site count resizes (and resets) every per-site buffer.
  void set_plan(const std::vector<SitePlan>& p);
  // The output step in use at `site`, or 0 where the output stays float (the
  // plan keeps it float, or it was never observed).
  float output_step(int64_t site = 0) const;
  // The input step at `site`: its own, or, where the input is read on a
  // producer's grid, the producer's output step.
  float input_step(int64_t site = 0) const;
  // The int32 bias step per output channel, (O): input step x weight steps, in float32.
  torch::Tensor bias_step(const torch::Tensor& weight_steps, int64_t site) const;

  // Set only during the planning forward (plan.cpp): the hooks then record
  // their inputs and outputs instead of quantizing.
  QuantPlanRecorder* recorder = nullptr;
  // Set only by layer-by-layer verification (compress/export/verify_layers.cpp):
  // sees every tensor this quantizer rounds ("input" or "output", at `site`),
  // before and after rounding, and returns what the model goes on with (the
  // runtime's own values there, so that each layer is compared on identical inputs).
  std::function<torch::Tensor(const ConvQuantImpl&, const char* kind, const torch::Tensor& before,
                              const torch::Tensor& rounded)>
      probe;

 private:
  int64_t checked_site() const;
  std::vector<std::pair<const ConvQuantImpl*, int64_t>> producers_;  // per site, from the plan
  void observe(const torch::Tensor& x, int64_t k);
  void observe_output(const torch::Tensor& y, bool non_negative, int64_t k);
};

// h-swish in its int8 form on an already rounded y: y * code / 255 with
// code = clamp(round((y + 3) / (6/255)), 0, 255); the rounding's gradient is
// straight-through (float h-swish's gradient) when y requires grad.
torch::Tensor int8_hard_swish(const torch::Tensor& y);

}  // namespace compress::quant
