#include "train/models/rcnn/fpn.h"

#include <torch/torch.h>

#include "train/models/layers.h"
#include "train/util/error.h"

namespace compress {

FPNImpl::FPNImpl(const std::vector<int64_t>& in_channels, int64_t channels, int64_t min_level_, int64_t max_level_,
                 bool extra)
    : min_level(min_level_), max_level(max_level_), has_extra_convs(extra) {
  const int64_t taps = static_cast<int64_t>(in_channels.size());
  if (taps < 1) fail("FPN: needs at least one backbone feature map");
  if (max_level < min_level + taps - 1)
    fail("FPN.max_level: ", max_level, " is below the ", taps, " backbone levels from min_level ", min_level);
  fpn_inner = register_module("fpn_inner", torch::nn::ModuleList());
  fpn_layer = register_module("fpn_layer", torch::nn::ModuleList());
  fpn_extra = register_module("fpn_extra", torch::nn::ModuleList());
  for (int64_t c : in_channels) {
    fpn_inner->push_back(ConvBNLayer(ConvBNOptions(c, channels, 1, 1, 1, Act::None, false)));
    fpn_layer->push_back(ConvBNLayer(ConvBNOptions(channels, channels, 3, 1, 1, Act::None, false)));
  }
  // Levels above the taps: convs when has_extra_convs, else stride-2 max pooling.
  for (int64_t l = min_level + taps; l <= max_level; ++l) {
    if (!extra) break;
    const int64_t in = l == min_level + taps ? in_channels.back() : channels;
    fpn_extra->push_back(ConvBNLayer(ConvBNOptions(in, channels, 3, 2, 1, Act::None, false)));
  }
}

std::vector<torch::Tensor> FPNImpl::forward(const std::vector<torch::Tensor>& taps) {
  const size_t n = fpn_inner->size();
  TORCH_CHECK(taps.size() == n, "FPN: expected ", n, " feature maps, got ", taps.size());
  std::vector<torch::Tensor> inner(n), out;
  inner[n - 1] = fpn_inner[n - 1]->as<ConvBNLayer>()->forward(taps[n - 1]);
  for (size_t i = n - 1; i-- > 0;) {
    const auto lateral = fpn_inner[i]->as<ConvBNLayer>()->forward(taps[i]);
    // Sized to the lateral, so odd map sizes (inputs not a multiple of 2^l) still add up.
    inner[i] = lateral + torch::upsample_nearest2d(inner[i + 1], {lateral.size(2), lateral.size(3)});
  }
  for (size_t i = 0; i < n; ++i) out.push_back(fpn_layer[i]->as<ConvBNLayer>()->forward(inner[i]));
  for (int64_t l = min_level + static_cast<int64_t>(n); l <= max_level; ++l) {
    const size_t j = static_cast<size_t>(l - min_level) - n;
    if (has_extra_convs) {
      const auto in = j == 0 ? taps.back() : torch::relu(out.back());
      out.push_back(fpn_extra[j]->as<ConvBNLayer>()->forward(in));
    } else {
      out.push_back(torch::max_pool2d(out.back(), 1, 2));
    }
  }
  return out;
}

}  // namespace compress
