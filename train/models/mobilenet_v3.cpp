#include "train/models/mobilenet_v3.h"

#include "train/util/error.h"

namespace compress {

const std::vector<BlockSpec>& mobilenet_v3_blocks(const std::string& model_name) {
  // kernel, expand, out, SE, activation, stride
  static const std::vector<BlockSpec> large = {
      {3, 16, 16, false, Act::ReLU, 1},       {3, 64, 24, false, Act::ReLU, 2},
      {3, 72, 24, false, Act::ReLU, 1},       {5, 72, 40, true, Act::ReLU, 2},
      {5, 120, 40, true, Act::ReLU, 1},       {5, 120, 40, true, Act::ReLU, 1},
      {3, 240, 80, false, Act::HardSwish, 2}, {3, 200, 80, false, Act::HardSwish, 1},
      {3, 184, 80, false, Act::HardSwish, 1}, {3, 184, 80, false, Act::HardSwish, 1},
      {3, 480, 112, true, Act::HardSwish, 1}, {3, 672, 112, true, Act::HardSwish, 1},
      {5, 672, 160, true, Act::HardSwish, 2}, {5, 960, 160, true, Act::HardSwish, 1},
      {5, 960, 160, true, Act::HardSwish, 1}};
  static const std::vector<BlockSpec> small = {
      {3, 16, 16, true, Act::ReLU, 2},       {3, 72, 24, false, Act::ReLU, 2},
      {3, 88, 24, false, Act::ReLU, 1},      {5, 96, 40, true, Act::HardSwish, 2},
      {5, 240, 40, true, Act::HardSwish, 1}, {5, 240, 40, true, Act::HardSwish, 1},
      {5, 120, 48, true, Act::HardSwish, 1}, {5, 144, 48, true, Act::HardSwish, 1},
      {5, 288, 96, true, Act::HardSwish, 2}, {5, 576, 96, true, Act::HardSwish, 1},
      {5, 576, 96, true, Act::HardSwish, 1}};
  if (model_name == "large") return large;
  if (model_name == "small") return small;
  fail("MobileNetV3.model_name: unknown '", model_name, "' (valid: large, small)");
}

ResidualUnitImpl::ResidualUnitImpl(int64_t in, const BlockSpec& s, double scale) {
  mid_channels = make_divisible(scale * s.expand);
  out_channels = make_divisible(scale * s.out);
  shortcut = s.stride == 1 && in == out_channels;
  // The reference always has the expand conv, even when it keeps the width.
  expand = register_module("expand", ConvBNLayer(ConvBNOptions(in, mid_channels, 1, 1, 1, s.act)));
  res_conv1 = register_module(
      "res_conv1", ConvBNLayer(ConvBNOptions(mid_channels, mid_channels, s.kernel, s.stride, mid_channels, s.act)));
  if (s.se) se_block = register_module("se_block", SEBlock(mid_channels, make_divisible(mid_channels / 4.0)));
  linear = register_module("linear", ConvBNLayer(ConvBNOptions(mid_channels, out_channels, 1, 1, 1, Act::None)));
}

torch::Tensor ResidualUnitImpl::forward_expand(const torch::Tensor& x) { return expand->forward(x); }

torch::Tensor ResidualUnitImpl::forward_rest(const torch::Tensor& expanded, const torch::Tensor& x) {
  torch::Tensor y = res_conv1->forward(expanded);
  if (se_block) y = se_block->forward(y);
  y = linear->forward(y);
  return shortcut ? y + x : y;
}

torch::Tensor ResidualUnitImpl::forward(const torch::Tensor& x) { return forward_rest(forward_expand(x), x); }

MobileNetV3Impl::MobileNetV3Impl(const std::string& model_name, double scale, int64_t max_stride, bool reduced_tail) {
  if (!(scale > 0)) fail("MobileNetV3.scale must be positive, got ", scale);
  const auto& specs = mobilenet_v3_blocks(model_name);
  int64_t in = make_divisible(16 * scale);
  conv1 = register_module("conv1", ConvBNLayer(ConvBNOptions(3, in, 3, 2, 1, Act::HardSwish)));
  blocks = register_module("blocks", torch::nn::ModuleList());
  int64_t stride = 2;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (stride * specs[i].stride > max_stride) break;  // a truncated backbone (Cascade R-CNN's stops at 16)
    if (specs[i].stride == 2 && stride == 16 && tap_block < 0) tap_block = static_cast<int64_t>(i);
    BlockSpec spec = specs[i];
    if (reduced_tail && stride * spec.stride == 32) {
      spec.out /= 2;
      if (stride == 32) spec.expand /= 2;  // the s16->s32 unit keeps its expand: it is SSDLite's tap
    }
    auto unit = ResidualUnit(in, spec, scale);
    in = unit->out_channels;
    stride *= specs[i].stride;
    block_stride.push_back(stride);
    if (stride == 8) s8_block = static_cast<int64_t>(i);
    if (stride == 16) s16_block = static_cast<int64_t>(i);
    blocks->push_back(unit);
  }
  if (max_stride < 32) return;  // no conv_last, no SSD/YOLO taps: forward_maps() only
  TORCH_CHECK(tap_block >= 0, "MobileNetV3: no stride-16 to 32 unit");
  // 960 (large) / 576 (small) at scale 1; halved with the reduced tail (6x its 80 / 48 outputs).
  const int64_t last = make_divisible(scale * specs.back().expand / (reduced_tail ? 2 : 1));
  conv_last = register_module("conv_last", ConvBNLayer(ConvBNOptions(in, last, 1, 1, 1, Act::HardSwish)));
  TORCH_CHECK(s8_block >= 0 && s16_block >= 0, "MobileNetV3: no units at stride 8 and 16");
  out_channels = {blocks[tap_block]->as<ResidualUnit>()->mid_channels, last};
  stride_channels = {blocks[s8_block]->as<ResidualUnit>()->out_channels,
                     blocks[s16_block]->as<ResidualUnit>()->out_channels, last};
}

std::vector<torch::Tensor> MobileNetV3Impl::forward_strides(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == 3, "MobileNetV3: expected (N, 3, H, W) input, got ", x.sizes());
  torch::Tensor y = conv1->forward(x);
  std::vector<torch::Tensor> taps;
  for (size_t i = 0; i < blocks->size(); ++i) {
    y = blocks[i]->as<ResidualUnit>()->forward(y);
    if (static_cast<int64_t>(i) == s8_block || static_cast<int64_t>(i) == s16_block) taps.push_back(y);
  }
  taps.push_back(conv_last->forward(y));  // (N, last, H/32, W/32)
  return taps;
}

namespace {
// The unit whose output is feature map k (2..5): the last one at stride 2^k.
int64_t map_block(const std::vector<int64_t>& block_stride, int64_t map) {
  int64_t found = -1;
  for (size_t i = 0; i < block_stride.size(); ++i)
    if (block_stride[i] == (int64_t{1} << map)) found = static_cast<int64_t>(i);
  if (found < 0) fail("MobileNetV3.feature_maps: no unit at stride ", int64_t{1} << map, " for index ", map);
  return found;
}
}  // namespace

int64_t MobileNetV3Impl::map_channels(int64_t map) const {
  if (map == 6 && conv_last) return conv_last->conv->options.out_channels();
  if (map < 2 || map > 5) fail("MobileNetV3.feature_maps: index ", map, " out of range (2..6)");
  return blocks->ptr(static_cast<size_t>(map_block(block_stride, map)))->as<ResidualUnit>()->out_channels;
}

std::vector<torch::Tensor> MobileNetV3Impl::forward_maps(const torch::Tensor& x, const std::vector<int64_t>& maps) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == 3, "MobileNetV3: expected (N, 3, H, W) input, got ", x.sizes());
  std::vector<int64_t> at;  // unit index per map; blocks->size() stands for conv_last
  for (size_t k = 0; k < maps.size(); ++k) {
    if (k > 0 && maps[k] <= maps[k - 1]) fail("MobileNetV3.feature_maps: indices must ascend");
    if (maps[k] < 2 || maps[k] > (conv_last ? 6 : 5))
      fail("MobileNetV3.feature_maps: index ", maps[k], " out of range (2..", conv_last ? 6 : 5, ")");
    at.push_back(maps[k] == 6 ? static_cast<int64_t>(blocks->size()) : map_block(block_stride, maps[k]));
  }
  torch::Tensor y = conv1->forward(x);
  std::vector<torch::Tensor> taps;
  size_t next = 0;
  for (size_t i = 0; i < blocks->size() && next < at.size(); ++i) {
    y = blocks[i]->as<ResidualUnit>()->forward(y);
    while (next < at.size() && at[next] == static_cast<int64_t>(i)) ++next, taps.push_back(y);
  }
  if (next < at.size()) taps.push_back(conv_last->forward(y));  // index 6
  return taps;
}

std::vector<torch::Tensor> MobileNetV3Impl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == 3, "MobileNetV3: expected (N, 3, H, W) input, got ", x.sizes());
  torch::Tensor y = conv1->forward(x);
  torch::Tensor tap16;
  for (size_t i = 0; i < blocks->size(); ++i) {
    auto* unit = blocks[i]->as<ResidualUnit>();
    if (static_cast<int64_t>(i) == tap_block) {
      tap16 = unit->forward_expand(y);  // (N, mid, H/16, W/16)
      y = unit->forward_rest(tap16, y);
    } else {
      y = unit->forward(y);
    }
  }
  return {tap16, conv_last->forward(y)};
}

}  // namespace compress
