// The activation observers of the reference (PaddleSlim's
// activation_quantize_type). Each turns a batch's max|x| into the range a
// quantization step is cut from (step = range / Q), keeping its state in
// per-site tensors that ConvQuant saves in checkpoints:
//   abs_max                 this batch's own max (dynamic, in evaluation too)
//   moving_average_abs_max  state = r state + 1, accum = r accum + max;
//                           range = accum / state (the bias-corrected average)
//   range_abs_max           the max over the last window_size steps' maxima
#pragma once
#include <ATen/core/Tensor.h>

#include "compress/quant/quant_options.h"

namespace compress::quant {

// max|x| of a batch as a (1) float32 tensor, in one pass without an |x|
// temporary. all_ranks: the max over every rank's batch under data
// parallelism, so that the ranks' scales stay identical.
at::Tensor batch_abs_max(const at::Tensor& x, bool all_ranks);

// moving_average_abs_max: updates state and accum ((1) views, in place) with
// batch max m (1) and returns the range (1).
at::Tensor moving_average_range(at::Tensor state, at::Tensor accum, const at::Tensor& m, double rate);

// range_abs_max: writes m into slot iter % W of window (W), advances iter (1)
// and returns the window's max (1).
at::Tensor window_range(at::Tensor window, at::Tensor iter, const at::Tensor& m);

// The smallest step an observed activation gets: float32's epsilon, as
// torch.ao's observers floor their scales. A site whose every observed value
// was 0 (a ReLU that never fired on the calibration data) thus gets a real,
// exportable step instead of 0, and 0 keeps meaning "never observed".
constexpr double kMinObservedStep = 1.1920928955078125e-07;

// The step (1) for an observed range (1): range / levels, floored at
// kMinObservedStep.
at::Tensor step_of_range(const at::Tensor& range, int64_t levels);

// The per-site state an observer keeps (views of one site's entries).
struct ObserverState {
  at::Tensor state, accum;  // moving_average_abs_max (1) each
  at::Tensor window, iter;  // range_abs_max (W) and (1)
};

// The range `type` gives for batch max m, updating `s`.
at::Tensor observe_range(ActivationQuantizeType type, ObserverState& s, const at::Tensor& m, double moving_rate);

}  // namespace compress::quant
