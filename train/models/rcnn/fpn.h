// Feature Pyramid Network (Lin et al., CVPR 2017) as the reference's FPN with
// has_extra_convs: 1x1 laterals on the backbone taps, a nearest-upsampled
// top-down path, a 3x3 output conv per level, then 3x3 stride-2 convs above the
// highest tap (the first on the tap itself, later ones after a ReLU).
// Names: fpn_inner.{i} and fpn_layer.{i} per tap (lowest level first),
// fpn_extra.{j}; each `<name>.conv.weight` / `.conv.bias`.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <vector>

namespace compress {

struct FPNImpl : torch::nn::Module {
  // in_channels: the taps' channels, lowest level (= min_level) first.
  FPNImpl(const std::vector<int64_t>& in_channels, int64_t channels, int64_t min_level, int64_t max_level,
          bool has_extra_convs);
  // taps (N, C_i, H_i, W_i), each half the size of the one before ->
  // levels min_level..max_level, each (N, channels, H / 2^l, W / 2^l).
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& taps);

  torch::nn::ModuleList fpn_inner, fpn_layer, fpn_extra;
  int64_t min_level, max_level;
  bool has_extra_convs;
};
TORCH_MODULE(FPN);

}  // namespace compress
