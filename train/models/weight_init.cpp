#include "train/models/weight_init.h"

#include <torch/torch.h>

#include "train/config/config.h"
#include "train/util/error.h"

namespace compress {

InitOptions init_options_from_config(const Config& cfg) {
  InitOptions o;
  o.scheme = cfg.get<std::string>("WeightInit.scheme");
  o.conv_std = cfg.get<double>("WeightInit.std");
  o.bn_momentum = cfg.get<double>("BatchNorm.momentum");
  o.bn_epsilon = cfg.get<double>("BatchNorm.epsilon");
  return o;
}

void apply_init(torch::nn::Module& model, const std::string& arch, const InitOptions& o) {
  torch::NoGradGuard no_grad;
  for (const auto& item : model.named_modules("", /*include_self=*/false))
    if (auto* bn = item.value()->as<torch::nn::BatchNorm2d>()) bn->options.momentum(o.bn_momentum).eps(o.bn_epsilon);
  if (o.scheme == "default") return;
  if (o.scheme != "torchvision") fail("WeightInit.scheme '", o.scheme, "': use default or torchvision");
  // YOLOv3 and Cascade R-CNN set some output biases on purpose (objectness
  // priors); torchvision's scheme is SSDLite's, so it is refused elsewhere.
  if (arch != "SSD") fail("WeightInit.scheme: torchvision is SSDLite's from-scratch init; ", arch, " keeps default");
  if (!(o.conv_std > 0)) fail("WeightInit.std must be > 0, got ", o.conv_std);
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (auto* c = item.value()->as<torch::nn::Conv2d>()) {
      torch::nn::init::normal_(c->weight, 0.0, o.conv_std);
      if (c->bias.defined()) c->bias.zero_();
    } else if (auto* bn = item.value()->as<torch::nn::BatchNorm2d>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    }
  }
}

}  // namespace compress
