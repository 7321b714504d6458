// Optional re-initialisation and BN settings applied after a detector is built,
// so a from-scratch recipe can start where torchvision's does (issue 30's
// ablations). The defaults change nothing: LibTorch's init and the reference's
// BN (Paddle momentum 0.9 = LibTorch 0.1, epsilon 1e-5).
#pragma once
#include <string>

namespace torch::nn {
class Module;
}

namespace compress {

class Config;

struct InitOptions {
  // "default": as built (LibTorch's kaiming_uniform(a = sqrt 5) for every conv).
  // "torchvision": as torchvision's ssdlite320_mobilenet_v3_large from scratch
  // (weights_backbone=None): every conv ~ N(0, std), backbone included, since
  // its _normal_init(backbone) overwrites MobileNetV3's own kaiming init; depthwise
  // and SE convs too; biases 0; BN scale 1, shift 0.
  std::string scheme = "default";
  double conv_std = 0.03;
  double bn_momentum = 0.1;  // LibTorch's sense: running = (1 - m) running + m batch
  double bn_epsilon = 1e-5;
};

InitOptions init_options_from_config(const Config& cfg);

// Applies `o` to `model` (its module paths decide backbone vs head: "backbone."
// prefixes the backbone). `arch` is the detector family, for the error when a
// scheme does not apply to it. Sets every BatchNorm2d's momentum and epsilon.
void apply_init(torch::nn::Module& model, const std::string& arch, const InitOptions& o);

}  // namespace compress
