#include "train/models/cost.h"

#include <torch/torch.h>

#include <map>

#include "train/models/detector.h"
#include "train/models/layers.h"
#include "train/models/rcnn/bbox_head.h"

namespace compress {
namespace {
thread_local std::map<const void*, int64_t>* g_recorder = nullptr;  // layer -> output H*W
}

void cost_detail::record_output(const void* layer, int64_t out_h, int64_t out_w) {
  if (g_recorder) (*g_recorder)[layer] += out_h * out_w;  // a shared head (R-CNN's RPN) counts every level
}

ModelCost measure_cost(DetectorImpl& model, int64_t height, int64_t width) {
  std::map<const void*, int64_t> hw;
  g_recorder = &hw;
  const bool was_training = model.is_training();
  model.eval();
  {
    torch::NoGradGuard g;
    const auto out = model.forward(torch::zeros({1, 3, height, width}));
    // Two-stage detectors run their RoI heads in postprocess (Cascade R-CNN's
    // box heads cost as much as its FPN): they count at the RoIs a blank image gets.
    model.postprocess(out, height, width);
  }
  g_recorder = nullptr;
  if (was_training) model.train();
  ModelCost cost;
  for (const auto& p : model.parameters()) cost.total_params += p.numel();
  for (const auto& item : model.named_modules()) {
    const auto* conv = dynamic_cast<const ConvBNLayerImpl*>(item.value().get());
    const auto* se = dynamic_cast<const SEBlockImpl*>(item.value().get());
    const auto* fc = dynamic_cast<const BBoxHeadImpl*>(item.value().get());
    LayerCost c;
    c.name = item.key();
    if (conv && hw.count(conv)) {
      for (const auto& p : conv->parameters()) c.params += p.numel();
      c.macs = conv->conv->weight.numel() * hw.at(conv);  // (out * in/groups * k * k) per output pixel
    } else if (se && hw.count(se)) {
      for (const auto& p : se->parameters()) c.params += p.numel();
      c.macs = se->conv1->weight.numel() + se->conv2->weight.numel();  // on the pooled 1x1 map
    } else if (fc && hw.count(fc)) {
      for (const auto& p : fc->parameters()) c.params += p.numel();
      for (const auto* l : {fc->fc6.get(), fc->fc7.get(), fc->cls_score.get(), fc->bbox_pred.get()})
        c.macs += l->weight.numel() * hw.at(fc);  // per RoI
    } else {
      continue;
    }
    cost.total_macs += c.macs;
    cost.layers.push_back(c);
  }
  return cost;
}

}  // namespace compress
