#include "compress/prune/flops.h"

#include <torch/torch.h>

#include "compress/prune/trace.h"
#include "train/models/detector.h"
#include "train/models/rcnn/bbox_head.h"
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

DependencyGraph trace_detector(torch::nn::Module& model, int64_t size) {
  auto* det = dynamic_cast<DetectorImpl*>(&model);
  TORCH_CHECK(det, "trace_detector: the model is not a detector");
  // A two-stage detector's box heads run on RoIs outside forward(): each is
  // traced on one pooled RoI of zeros, so its fully connected layers enter the
  // FLOPs count once per RoI, as the reference counts them.
  std::vector<BBoxHeadImpl*> heads;
  for (const auto& m : model.modules(/*include_self=*/false))
    if (auto* h = m->as<BBoxHeadImpl>()) heads.push_back(h);
  return trace_graph(model,
                     [det, heads](const at::Tensor& x) {
                       auto out = det->forward(x);
                       for (auto* h : heads) {
                         auto [logits, deltas] = h->forward(torch::zeros({1, h->fc6->options.in_features()}));
                         out.push_back(logits);
                         out.push_back(deltas);
                       }
                       return out;
                     },
                     {1, 3, size, size});
}

ModelFlops model_flops(torch::nn::Module& model, int64_t input_size) {
  ModelFlops r;
  {
    torch::NoGradGuard no_grad;
    const bool was_training = model.is_training();
    model.eval();
    r.layers = conv_costs(trace_detector(model, input_size));
    if (was_training) model.train();
  }
  for (const auto& c : r.layers) r.flops += c.flops;
  for (const auto& p : model.parameters()) r.params += p.numel();
  return r;
}

}  // namespace compress::prune
