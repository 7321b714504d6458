// A detector recipe's backbone with a classification head, for `compress
// pretrain`. Its backbone is registered as `backbone`, built exactly as the
// recipe's detector builds it, so its tensors (`backbone.blocks.4.res_conv1.
// conv.weight`, ...) load into the detector by name; `fc` is dropped then.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <string>

#include "train/models/mobilenet_v3.h"
#include "train/models/resnet.h"

namespace compress {

class Config;

struct BackboneSpec {
  std::string type = "MobileNetV3";  // or "ResNet"
  std::string model_name = "large";  // MobileNetV3
  double scale = 1.0;                // MobileNetV3
  bool reduced_tail = false;         // MobileNetV3's halved stride-32 stage
  int64_t max_stride = 32;           // MobileNetV3: Cascade R-CNN's backbone stops at its last FPN tap
  int64_t depth = 34;                // ResNet
  bool zero_init_residual = false;   // ResNet
};

// The backbone of the detector that `cfg`'s architecture names.
BackboneSpec backbone_spec_from_config(const Config& cfg);

struct BackboneClassifierImpl : torch::nn::Module {
  BackboneClassifierImpl(const BackboneSpec& spec, int64_t num_classes);
  // (N, 3, H, W) -> logits (N, num_classes): the deepest feature map, averaged
  // over space, then one linear layer.
  torch::Tensor forward(const torch::Tensor& images);

  BackboneSpec spec;
  MobileNetV3 mobilenet{nullptr};  // one of the two, registered as `backbone`
  ResNet resnet{nullptr};
  torch::nn::Linear fc{nullptr};
  int64_t deepest_map = 6;  // MobileNetV3's forward_maps index of the pooled map
};
TORCH_MODULE(BackboneClassifier);

}  // namespace compress
