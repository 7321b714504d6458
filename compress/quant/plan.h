// The quantization plan: decided once, when QAT or PTQ wraps a model (and again
// when set_conv_float changes which convs are quantized), stored in every
// quantizer's plan_* buffers and so in the checkpoint. The simulation (training
// and evaluation) and the ONNX exporter read it; nothing else decides numerics.
//
// For every quantized conv and call site:
//   - its output is rounded to int8 only where every consumer reads it on an
//     int8 grid: a quantized conv's input, or an op that int8 runtimes run on
//     int8 operands (add, mul, mean/global pool, concat, nearest upsample, max
//     pool, ReLU) whose own consumers all do the same; and never when it is a
//     model output. So a conv whose consumer --not_quant_pattern keeps float
//     hands it a float input, as the reference does;
//   - its input is read as is (no second rounding) where it is exactly a
//     producer's rounded output (rounded after the activation).
// The graph comes from one evaluation-mode forward on a zero image whose
// autograd graph gives every tensor's consumers.
#pragma once
#include <functional>
#include <vector>

#include <torch/types.h>

namespace torch::nn {
class Module;
}

namespace compress::quant {

struct ConvQuantImpl;
struct QuantPlanRecorder;

// Runs the model on its input, returning the model outputs.
using PlanRunner = std::function<std::vector<torch::Tensor>(const torch::Tensor&)>;
struct PlanInput {
  PlanRunner run;
  std::vector<int64_t> shape;  // (N, C, H, W) of the zero input
};

// The runner for a detector (its forward on a 1 x 3 x 160 x 160 image), or an
// empty one for any other module.
PlanInput default_plan_input(torch::nn::Module& model);

// Plans every ConvQuantImpl under `model`. Without a runner (a bare module the
// planner cannot run) the plan is the conservative one: every input quantized,
// every output float.
void plan_quantization(torch::nn::Module& model, const PlanInput& in);

// Used by ConvQuantImpl during the planning forward.
torch::Tensor record_input(QuantPlanRecorder& r, ConvQuantImpl& q, const torch::Tensor& x);
torch::Tensor record_output(QuantPlanRecorder& r, ConvQuantImpl& q, const torch::Tensor& y_after_act, bool after_act);

}  // namespace compress::quant
