#include "compress/prune/flops.h"

#include "train/util/error.h"

namespace compress::prune {

ConvCost conv_cost(const ConvInfo& c) {
  if (c.weight.size() != 4 || c.output.size() != 4) fail("conv_cost: '", c.module, "' is not a 2-D conv");
  const int64_t o = c.weight[0], i_per_g = c.weight[1], kh = c.weight[2], kw = c.weight[3];
  const int64_t hw = c.output[2] * c.output[3];
  ConvCost r;
  r.module = c.module;
  r.params = o * i_per_g * kh * kw + (c.bias ? o : 0);
  r.flops = hw * o * kh * kw * i_per_g;  // no bias term: see flops.h
  return r;
}

ConvCost linear_cost(const LinearInfo& l) {
  ConvCost r;
  r.module = l.module;
  r.params = l.in_features * l.out_features + (l.bias ? l.out_features : 0);
  r.flops = l.in_features * l.out_features;  // one row: the reference counts a dynamic batch as 1
  return r;
}

std::vector<ConvCost> conv_costs(const DependencyGraph& g) {
  std::vector<ConvCost> out;
  for (const auto& c : g.convs()) out.push_back(conv_cost(c));
  for (const auto& l : g.linears()) out.push_back(linear_cost(l));
  return out;
}

}  // namespace compress::prune
