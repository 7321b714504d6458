#include "compress/prune/flops.h"

#include "train/util/error.h"

namespace compress::prune {

ConvCost conv_cost(const ConvInfo& c) {
  if (c.weight.size() != 4 || c.output.size() != 4)
    fail("conv_cost: '", c.module, "' is not a 2-D conv");
  const int64_t o = c.weight[0], i_per_g = c.weight[1], kh = c.weight[2], kw = c.weight[3];
  const int64_t hw = c.output[2] * c.output[3];
  ConvCost r;
  r.module = c.module;
  r.params = o * i_per_g * kh * kw + (c.bias ? o : 0);
  r.flops = hw * o * (kh * kw * i_per_g + (c.bias ? 1 : 0));
  return r;
}

std::vector<ConvCost> conv_costs(const DependencyGraph& g) {
  std::vector<ConvCost> out;
  for (const auto& c : g.convs()) out.push_back(conv_cost(c));
  return out;
}

}  // namespace compress::prune
