// Parameters and FLOPs of every conv, from the shapes of a traced forward pass.
// FLOPs are counted as the reference's PaddleSlim counts them: multiply-adds,
// Hout * Wout * Cout * (kh * kw * Cin / groups + bias), per image; BN is
// folded into the conv for deployment and costs nothing.
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
std::vector<ConvCost> conv_costs(const DependencyGraph& g);

}  // namespace compress::prune
