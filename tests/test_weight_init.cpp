// WeightInit and BatchNorm sections: torchvision's from-scratch SSDLite init
// (issue 30's ablation) and the BN momentum / epsilon every BN then uses.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "train/config/config.h"
#include "train/models/detector.h"
#include "train/util/error.h"

using namespace compress;

namespace {

Detector ssd(std::vector<std::string> o) {
  o.insert(o.end(), {"num_classes=3", "MobileNetV3.model_name=small"});
  return build_detector(config_from_string("", o));
}

torch::nn::Conv2d conv_at(Detector& d, const std::string& path) {
  for (const auto& item : d->named_modules("", false))
    if (item.key() == path) return torch::nn::Conv2d(std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(item.value()));
  ADD_FAILURE() << "no conv " << path;
  return nullptr;
}

double std_of(const torch::Tensor& t) { return t.to(torch::kDouble).std().item<double>(); }

}  // namespace

TEST(WeightInit, TorchvisionSchemeDrawsEveryConvAtItsStd) {
  torch::manual_seed(0);
  auto d = ssd({"WeightInit.scheme=torchvision", "WeightInit.std=0.05"});
  // torchvision's from-scratch SSDLite overwrites MobileNetV3's kaiming init with
  // N(0, 0.03) everywhere: backbone 1x1, depthwise and SE convs as well as the
  // extra blocks and heads (kaiming fan_out would give conv_last sqrt(2 / 576) = 0.059).
  for (const std::string p : {"backbone.blocks.3.expand.conv", "backbone.conv_last.conv",
                              "backbone.blocks.3.res_conv1.conv", "backbone.blocks.3.se_block.conv1", "conf.0.pw.conv",
                              "loc.3.pw.conv", "conf.2.dw.conv", "extra_blocks.0.conv1.conv"}) {
    auto c = conv_at(d, p);
    ASSERT_TRUE(c) << p;
    EXPECT_NEAR(std_of(c->weight), 0.05, 0.1 * 0.05) << p;
    EXPECT_NEAR(c->weight.mean().item<double>(), 0.0, 0.01) << p;
    if (c->bias.defined()) EXPECT_EQ(c->bias.abs().max().item<double>(), 0.0) << p;
  }
  // LibTorch's default (the recipes' scheme) is uniform with std 1 / sqrt(3 fan_in): far from either.
  torch::manual_seed(0);
  auto def = ssd({});
  auto dc = conv_at(def, "conf.0.pw.conv");
  const double fan_in = static_cast<double>(dc->weight[0].numel());
  EXPECT_NEAR(std_of(dc->weight), 1.0 / std::sqrt(3.0 * fan_in), 0.1 / std::sqrt(3.0 * fan_in));
  EXPECT_GT(dc->bias.abs().max().item<double>(), 0.0);
}

TEST(WeightInit, BatchNormMomentumAndEpsilonAreWhatTheForwardUses) {
  auto d = ssd({"BatchNorm.momentum=0.03", "BatchNorm.epsilon=0.001"});
  int64_t n = 0;
  std::shared_ptr<torch::nn::BatchNorm2dImpl> first;
  for (const auto& item : d->named_modules("", false))
    if (auto* bn = item.value()->as<torch::nn::BatchNorm2d>()) {
      ++n;
      if (!first) first = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(item.value());
      EXPECT_DOUBLE_EQ(bn->options.momentum().value(), 0.03) << item.key();
      EXPECT_DOUBLE_EQ(bn->options.eps(), 0.001) << item.key();
    }
  EXPECT_GT(n, 30);
  // The forward reads them: one training step of the model's own first BN moves
  // its running mean by 3% of the batch mean and normalises by sqrt(var + 0.001).
  ASSERT_TRUE(first);
  first->train();
  first->reset_running_stats();
  const int64_t c = first->options.num_features();
  // Per channel the values 1, 3 (mean 2, biased variance 1).
  const auto x = torch::tensor({1.0f, 3.0f}).view({1, 1, 2, 1}).expand({1, c, 2, 1}).contiguous();
  torch::NoGradGuard no_grad;
  const auto y = first->forward(x);
  EXPECT_NEAR(first->running_mean[0].item<double>(), 0.03 * 2.0, 1e-7);
  EXPECT_NEAR(first->running_mean[c - 1].item<double>(), 0.03 * 2.0, 1e-7);
  EXPECT_NEAR(y[0][0][0][0].item<double>(), -1.0 / std::sqrt(1.0 + 0.001), 1e-6);  // (1 - 2) / sqrt(1 + eps)
}

TEST(WeightInit, TorchvisionSchemeIsRefusedForDetectorsWithDeliberateBiases) {
  try {
    build_detector(config_from_string("", {"architecture=YOLOv3", "num_classes=3", "WeightInit.scheme=torchvision"}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("WeightInit.scheme"), std::string::npos) << e.what();
  }
  EXPECT_THROW(config_from_string("", {"WeightInit.scheme=xavier"}), Error);
}
