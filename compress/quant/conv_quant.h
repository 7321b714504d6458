// The fake-quantization state QAT attaches to one conv: the weight quantizer
// (per channel or per tensor, abs-max of the current weight) and the input
// activation observer, whose scale is learned over training.
//
// Buffers (saved in checkpoints under `<conv>_quant.`):
//   weight_scale (O) or (1)   last weight steps, max|W| / Q (what export writes)
//   act_scale (1)             activation step, max / Q
//   act_state, act_accum (1)  moving_average_abs_max state, both from 0:
//                               state = r * state + 1; accum = r * accum + max|x|;
//                               act_scale = accum / state / Q
//   act_window (window_size), act_iter (1)   range_abs_max: the max of the last
//                               window_size batch maxima
//   out_scale, out_state, out_accum (1)   with quantize_outputs: the output's
//                               step by moving_average_abs_max, max / Q or, after
//                               ReLU, max / (2^bits - 1) (unsigned). Observed in
//                               training and calibration, applied in evaluation.
//
// An output-quantized tensor is already on an int8 grid: a quantized conv fed
// directly by one uses it as is (no second rounding with its own input scale),
// as the int8 model does, and export writes a single Q/DQ pair there.
#pragma once
#include "compress/quant/quant_options.h"
#include "train/models/layers.h"

namespace compress::quant {

struct ConvQuantImpl : ConvQuantHook {
  ConvQuantImpl(const QuantOptions& o, int64_t out_channels);
  torch::Tensor input(const torch::Tensor& x) override;
  torch::Tensor weight(const torch::Tensor& w) override;
  torch::Tensor output(const torch::Tensor& y, bool non_negative) override;
  // With int8 outputs (evaluation): relu6(y + 3) rounded to the uint8 grid of
  // step 6/255 (the clip is its saturation), read as hard-sigmoid(y) = code / 255,
  // times y. ONNX Runtime runs exactly this as QLinearAdd then QLinearMul (the
  // next quantized conv's input rounding closes the Mul), where a float
  // HardSigmoid and Mul would cost a dequantize-quantize pass each.
  torch::Tensor hard_swish(const torch::Tensor& y) override;
  // Update the activation observer in training mode, or when calibrating (PTQ).
  bool calibrating = false;

  QuantOptions opt;
  torch::Tensor weight_scale, act_scale, act_state, act_accum, act_window, act_iter;
  torch::Tensor out_scale, out_state, out_accum;  // undefined without quantize_outputs

  // The output step in use, or 0 where outputs stay float (not enabled, or not observed yet).
  float output_step() const;

 private:
  void observe(const torch::Tensor& x);
  void observe_output(const torch::Tensor& y, bool non_negative);
};

}  // namespace compress::quant
