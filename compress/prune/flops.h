// Parameters and FLOPs of every conv and fully connected layer, from the
// shapes of a traced forward pass. FLOPs are counted as the reference's
// PaddleSlim (`paddleslim.analysis.flops`) counts them: multiply-adds per image,
// - a conv: Hout * Wout * Cout * kh * kw * Cin / groups. PaddleSlim adds one per
//   output for a conv op with a Bias input, but fluid's conv2d adds its bias in
//   a separate elementwise op, so the reference never counts a bias;
// - a fully connected (`mul`) layer: rows * in * out, with a dynamic row count
//   (RoIs in Cascade R-CNN's box heads) counted as 1, as the reference does;
// - BN folds into the conv for deployment; activations, pooling and the rest
//   are not counted (the reference's default only_conv=True).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "compress/prune/graph.h"

namespace torch::nn {
class Module;
}

namespace compress::prune {

struct ConvCost {
  std::string module;
  int64_t params = 0;  // weight + bias
  int64_t flops = 0;   // per image
};

ConvCost conv_cost(const ConvInfo& c);
ConvCost linear_cost(const LinearInfo& l);
// Every conv, then every fully connected layer, in forward order. A module
// run several times (a shared head on every FPN level) appears once per run.
std::vector<ConvCost> conv_costs(const DependencyGraph& g);

// The traced graph of a detector at a square input: forward(), plus each box
// head of a two-stage detector on one RoI (its fully connected layers count
// once, as the reference counts a dynamic row count).
DependencyGraph trace_detector(torch::nn::Module& model, int64_t input_size);

// The one FLOPs counter (`bench model`, prune reports, --pruned_flops): every
// layer's cost as above, their total, and all the model's parameters (BN included).
struct ModelFlops {
  std::vector<ConvCost> layers;
  int64_t flops = 0;   // per image
  int64_t params = 0;  // every parameter of the model
};
ModelFlops model_flops(torch::nn::Module& model, int64_t input_size);

}  // namespace compress::prune
