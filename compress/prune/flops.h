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

namespace compress::prune {

struct ConvCost {
  std::string module;
  int64_t params = 0;  // weight + bias
  int64_t flops = 0;   // per image
};

ConvCost conv_cost(const ConvInfo& c);
ConvCost linear_cost(const LinearInfo& l);
// Every conv, then every fully connected layer, in forward order.
std::vector<ConvCost> conv_costs(const DependencyGraph& g);

}  // namespace compress::prune
