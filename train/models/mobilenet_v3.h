// MobileNetV3 (Howard et al., ICCV 2019), Large and Small, with scale multipliers.
// Names follow PaddleDetection's MobileNetV3 so recipes address the same layers:
//   backbone.conv1                          stem, 3x3 s2 + hard-swish
//   backbone.blocks.{i}.expand              1x1 expand conv (`*_expand`)
//   backbone.blocks.{i}.res_conv1           depthwise conv + BN + act (scope `res_conv1`)
//   backbone.blocks.{i}.se_block.conv{1,2}  squeeze-excitation (scope `se_block`)
//   backbone.blocks.{i}.linear              1x1 projection, no activation (`*_linear`)
//   backbone.conv_last                      1x1 conv to 6x the last width, hard-swish
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <string>
#include <vector>

#include "train/models/layers.h"

namespace compress {

struct BlockSpec {
  int64_t kernel, expand, out;
  bool se;
  Act act;
  int64_t stride;
};

// The paper's tables (Table 1 and 2), before the scale multiplier.
const std::vector<BlockSpec>& mobilenet_v3_blocks(const std::string& model_name);

struct ResidualUnitImpl : torch::nn::Module {
  ResidualUnitImpl(int64_t in, const BlockSpec& spec, double scale);
  torch::Tensor forward(const torch::Tensor& x);
  // The expand output (before the depthwise conv) is SSDLite's first feature map.
  torch::Tensor forward_expand(const torch::Tensor& x);
  torch::Tensor forward_rest(const torch::Tensor& expanded, const torch::Tensor& x);

  ConvBNLayer expand{nullptr}, res_conv1{nullptr}, linear{nullptr};
  SEBlock se_block{nullptr};
  bool shortcut;
  int64_t out_channels, mid_channels;
};
TORCH_MODULE(ResidualUnit);

struct MobileNetV3Impl : torch::nn::Module {
  // max_stride < 32 builds only the units up to that output stride, and no
  // conv_last: a backbone for forward_maps() (Cascade R-CNN's FPN taps).
  // reduced_tail halves the stride-32 stage (the paper's Table 6, torchvision's
  // from-scratch SSDLite): the s16->s32 unit's output, the later units' expand and
  // output, and conv_last (Large 160/960 -> 80/480); the stride-16 taps keep their width.
  MobileNetV3Impl(const std::string& model_name, double scale, int64_t max_stride = 32, bool reduced_tail = false);
  // (N, 3, H, W) -> {stride-16 expand output of the first s16->s32 unit (N, C16, H/16, W/16),
  //                  conv_last output (N, C32, H/32, W/32)}
  std::vector<torch::Tensor> forward(const torch::Tensor& x);
  // YOLOv3's taps (the reference's feature_maps [3, 4, 6]): the last unit's output
  // at stride 8 and at stride 16, and conv_last at stride 32, in that order.
  std::vector<torch::Tensor> forward_strides(const torch::Tensor& x);
  // The reference's feature_maps indices, ascending: k in 2..5 is the last
  // unit's output at stride 2^k, 6 is conv_last (stride 32). Cascade R-CNN's
  // FPN taps [2, 3, 4]: strides 4, 8 and 16. -> one (N, C_k, H / s, W / s) per index.
  std::vector<torch::Tensor> forward_maps(const torch::Tensor& x, const std::vector<int64_t>& maps);
  int64_t map_channels(int64_t map) const;  // C_k of forward_maps' tap k

  ConvBNLayer conv1{nullptr}, conv_last{nullptr};
  torch::nn::ModuleList blocks;
  int64_t tap_block = -1;                 // index of the unit whose expand output is tapped
  std::vector<int64_t> out_channels;      // channels of the two taps
  int64_t s8_block = -1, s16_block = -1;  // last units at stride 8 and 16
  std::vector<int64_t> stride_channels;   // channels of forward_strides()' three taps
  std::vector<int64_t> block_stride;      // output stride of each unit
};
TORCH_MODULE(MobileNetV3);

}  // namespace compress
