#include "train/models/backbone_classifier.h"

#include <torch/torch.h>

#include "train/config/config.h"
#include "train/util/error.h"

namespace compress {

BackboneSpec backbone_spec_from_config(const Config& cfg) {
  BackboneSpec s;
  const std::string arch = cfg.get<std::string>("architecture");
  if (arch == "YOLOv3") s.type = cfg.get<std::string>("YOLOv3.backbone");
  s.model_name = cfg.get<std::string>("MobileNetV3.model_name");
  s.scale = cfg.get<double>("MobileNetV3.scale");
  s.reduced_tail = cfg.get<bool>("MobileNetV3.reduced_tail");
  if (arch == "CascadeRCNN") {
    const auto fm = cfg.get<std::vector<int64_t>>("MobileNetV3.feature_maps");
    if (fm.empty() || fm.back() < 2 || fm.back() > 5)
      fail("MobileNetV3.feature_maps: Cascade R-CNN's taps must end in 2..5");
    s.max_stride = int64_t{1} << fm.back();
  }
  s.depth = cfg.get<int64_t>("ResNet.depth");
  s.zero_init_residual = cfg.get<bool>("ResNet.zero_init_residual");
  return s;
}

BackboneClassifierImpl::BackboneClassifierImpl(const BackboneSpec& s, int64_t num_classes) : spec(s) {
  TORCH_CHECK(num_classes > 0, "classifier: num_classes must be positive, got ", num_classes);
  int64_t channels = 0;
  if (s.type == "MobileNetV3") {
    mobilenet = register_module("backbone", MobileNetV3(s.model_name, s.scale, s.max_stride, s.reduced_tail));
    // Full backbone: conv_last (map 6). A truncated one (Cascade R-CNN): its last unit.
    deepest_map = s.max_stride == 32 ? 6 : 0;
    if (deepest_map == 0)
      for (int64_t k = 2; (int64_t{1} << k) <= s.max_stride; ++k) deepest_map = k;
    channels = mobilenet->map_channels(deepest_map);
  } else if (s.type == "ResNet") {
    resnet = register_module("backbone", ResNet(s.depth, s.zero_init_residual));
    channels = resnet->stride_channels.back();
  } else {
    fail("backbone: unsupported '", s.type, "' (valid: MobileNetV3, ResNet)");
  }
  fc = register_module("fc", torch::nn::Linear(channels, num_classes));
}

torch::Tensor BackboneClassifierImpl::forward(const torch::Tensor& images) {
  const torch::Tensor map = mobilenet ? mobilenet->forward_maps(images, {deepest_map}).front()
                                      : resnet->forward(images).back();  // (N, C, h, w)
  return fc->forward(map.mean({2, 3}));                                  // (N, num_classes)
}

}  // namespace compress
