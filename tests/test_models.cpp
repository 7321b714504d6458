// Model structure: the full parameter-name lists are pinned (tests/data/*.txt),
// and the reference's naming facts are checked directly.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <map>
#include <sstream>

#include "compress/prune/flops.h"
#include "tests/pinned.h"
#include "train/config/config.h"
#include "train/models/detector.h"
#include "train/models/ssdlite.h"

using namespace compress;

namespace {

using testutil::describe_params;
using testutil::expect_pinned;

Detector ssdlite(const std::string& model_name, int classes = 80) {
  return build_detector(
      config_from_string("", {"MobileNetV3.model_name=" + model_name, "num_classes=" + std::to_string(classes)}));
}

}  // namespace

TEST(SSDLite, ParameterNamesArePinned) {
  expect_pinned("ssdlite_mobilenet_v3_large_params.txt", describe_params(*ssdlite("large")));
  expect_pinned("ssdlite_mobilenet_v3_small_params.txt", describe_params(*ssdlite("small")));
}

TEST(SSDLite, ReferenceLayerNamesExist) {
  const auto m = ssdlite("large");
  const auto params = m->named_parameters();
  for (const char* name :
       {"backbone.conv1.conv.weight", "backbone.blocks.4.res_conv1.conv.weight",
        "backbone.blocks.4.se_block.conv1.weight", "backbone.blocks.4.se_block.conv2.bias",
        "backbone.blocks.4.expand.conv.weight", "backbone.blocks.4.linear.bn.weight", "backbone.conv_last.conv.weight",
        "extra_blocks.0.dw.conv.weight", "loc.0.pw.conv.weight", "conf.5.dw.bn.bias"})
    EXPECT_TRUE(params.contains(name)) << name;
}

TEST(SSDLite, ResConv1IsExactlyTheDepthwiseConvsAndSeBlockTheSeConvs) {
  for (const char* model : {"large", "small"}) {
    const auto m = ssdlite(model);
    int res_conv1 = 0, se = 0;
    for (const auto& p : m->named_parameters()) {
      const std::string& n = p.key();
      const bool is_conv_weight = n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0 && p.value().dim() == 4;
      const bool depthwise = is_conv_weight && p.value().size(1) == 1 && p.value().size(2) > 1;
      if (n.find("res_conv1") != std::string::npos && is_conv_weight) {
        EXPECT_TRUE(depthwise) << n;
        ++res_conv1;
      }
      // Every backbone depthwise conv sits under res_conv1 (the stem is a full 3x3 conv).
      if (depthwise && n.rfind("backbone.", 0) == 0) EXPECT_NE(n.find("res_conv1"), std::string::npos) << n;
      if (n.find("se_block") != std::string::npos && is_conv_weight) {
        EXPECT_EQ(p.value().size(2), 1) << n;  // 1x1
        ++se;
      }
    }
    const bool large = std::string(model) == "large";
    EXPECT_EQ(res_conv1, large ? 15 : 11) << model;
    EXPECT_EQ(se, large ? 2 * 8 : 2 * 9) << model;  // conv1 + conv2 per SE unit
  }
}

TEST(SSDLite, FeatureMapsAndOutputShapesAt320) {
  const auto m = ssdlite("large", 10);
  auto* ssd = dynamic_cast<SSDLiteImpl*>(m.get());
  ASSERT_NE(ssd, nullptr);
  EXPECT_EQ(ssd->backbone->tap_block, 12);  // the first unit going from stride 16 to 32
  EXPECT_EQ(ssd->backbone->out_channels, (std::vector<int64_t>{672, 960}));
  m->eval();
  torch::NoGradGuard g;
  const auto out = m->forward(torch::zeros({2, 3, 320, 320}));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].sizes(), (std::vector<int64_t>{2, 2434, 4}));
  EXPECT_EQ(out[1].sizes(), (std::vector<int64_t>{2, 2434, 11}));
  EXPECT_EQ(out[2].sizes(), (std::vector<int64_t>{2434, 4}));
  const auto small = ssdlite("small", 10);
  EXPECT_EQ(dynamic_cast<SSDLiteImpl*>(small.get())->backbone->out_channels, (std::vector<int64_t>{288, 576}));
}

TEST(SSDLite, ScaleMultiplierShrinksChannels) {
  const auto half = build_detector(config_from_string("", {"MobileNetV3.model_name=small", "MobileNetV3.scale=0.5"}));
  auto* ssd = dynamic_cast<SSDLiteImpl*>(half.get());
  EXPECT_EQ(ssd->backbone->out_channels, (std::vector<int64_t>{144, 288}));
  EXPECT_EQ(ssd->backbone->conv1->conv->weight.size(0), 8);
}

TEST(SSDLite, BadConfigurationsAreErrors) {
  EXPECT_THROW(build_detector(config_from_string("", {"SSDLiteMultiBoxHead.aspect_ratios=[[2], [2, 3]]"})),
               std::exception);
  EXPECT_THROW(build_detector(config_from_string("", {"num_classes=0"})), std::exception);
}

TEST(ModelFlops, HandComputedLayersAndTotals) {
  // The one counter (compress/prune/flops.h) on a whole detector, by hand.
  auto m = ssdlite("large", 10);
  const auto c = prune::model_flops(*m, 320);
  std::map<std::string, int64_t> flops;  // a conv run once: its module path
  for (const auto& l : c.layers) flops[l.module] += l.flops;
  EXPECT_EQ(flops.at("backbone.conv1.conv"), 16 * 3 * 3 * 3 * 160 * 160);  // 3x3 s2 conv to 16 channels at 160x160
  // Block 12's depthwise 5x5, stride 2: 672 channels at 10x10.
  EXPECT_EQ(flops.at("backbone.blocks.12.res_conv1.conv"), 672 * 25 * 10 * 10);
  // SE of block 12: 672 -> 168 -> 672 on the pooled 1x1 map; biases count nothing.
  EXPECT_EQ(flops.at("backbone.blocks.12.se_block.conv1"), 672 * 168);
  EXPECT_EQ(flops.at("backbone.blocks.12.se_block.conv2"), 168 * 672);
  int64_t params = 0;
  for (const auto& p : m->parameters()) params += p.numel();
  EXPECT_EQ(c.params, params);
  int64_t total = 0;
  for (const auto& [name, f] : flops) total += f;
  EXPECT_EQ(c.flops, total);
  // Every conv of the model is counted: 3x3 and 1x1 alike.
  int64_t convs = 0;
  for (const auto& mod : m->modules(false)) convs += mod->as<torch::nn::Conv2dImpl>() != nullptr;
  EXPECT_EQ(static_cast<int64_t>(flops.size()), convs);
}

// MobileNetV3.reduced_tail with torchvision's priors (6 per cell on every map)
// is torchvision's from-scratch ssdlite320_mobilenet_v3_large, parameter for
// parameter. Counts from torchvision 0.14 (Debian python3-torchvision):
//   m = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=11)
//   m.backbone.features: 1,620,512; m.backbone.extra: 452,160; m.head: 258,588.
TEST(SSDLite, ReducedTailWithSixPriorsPerCellHasTorchvisionsParameterCounts) {
  const auto m = build_detector(
      config_from_string("", {"num_classes=10", "MobileNetV3.reduced_tail=true",
                              "SSDLiteMultiBoxHead.aspect_ratios=[[2, 3], [2, 3], [2, 3], [2, 3], [2, 3], [2, 3]]"}));
  auto* ssd = dynamic_cast<SSDLiteImpl*>(m.get());
  ASSERT_NE(ssd, nullptr);
  // The stride-16 tap keeps its 672 channels; the stride-32 stage is halved.
  EXPECT_EQ(ssd->backbone->out_channels, (std::vector<int64_t>{672, 480}));
  std::map<std::string, int64_t> count;
  for (const auto& p : m->named_parameters()) {
    const std::string& n = p.key();
    const std::string part = n.rfind("backbone.", 0) == 0       ? "backbone"
                             : n.rfind("extra_blocks.", 0) == 0 ? "extra"
                                                                : "head";
    count[part] += p.value().numel();
  }
  // The reference's first unit keeps its 16 -> 16 expand conv + BN, which
  // torchvision drops when the expansion is 1: 16 * 16 + 2 * 16 more.
  EXPECT_EQ(count["backbone"], 1620512 + 16 * 16 + 2 * 16);
  EXPECT_EQ(count["extra"], 452160);
  EXPECT_EQ(count["head"], 258588);
  // Without it, the reference's full-width tail: 160 / 960 channels.
  const auto full = ssdlite("large", 10);
  EXPECT_EQ(dynamic_cast<SSDLiteImpl*>(full.get())->backbone->out_channels, (std::vector<int64_t>{672, 960}));
}
