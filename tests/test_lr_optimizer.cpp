#include <gtest/gtest.h>
#include <torch/torch.h>

#include "train/config/config.h"
#include "train/engine/lr_schedule.h"
#include "train/engine/optimizer.h"
#include "train/models/detector.h"

using namespace compress;

TEST(LRSchedule, CosineWithLinearWarmup) {
  const auto s = LRSchedule::from_config(
      config_from_string("max_iters: 1000\nLearningRate: {base_lr: 0.4, schedulers: [!CosineDecay {max_iters: 1000}, "
                         "!LinearWarmup {start_factor: 0.25, steps: 100}]}"));
  EXPECT_NEAR(s.lr(0), 0.1, 1e-12);                         // 0.4 * 0.25
  EXPECT_NEAR(s.lr(50), 0.4 * (0.25 + 0.75 * 0.5), 1e-12);  // halfway up the ramp
  EXPECT_NEAR(s.lr(500), 0.4 * 0.5 * (std::cos(M_PI * 0.5) + 1), 1e-12);
  EXPECT_NEAR(s.lr(1000), 0.0, 1e-12);
}

TEST(LRSchedule, PiecewiseDecay) {
  const auto s = LRSchedule::from_config(config_from_string(
      "LearningRate: {base_lr: 0.001, schedulers: [!PiecewiseDecay {gamma: 0.1, milestones: [400, 450]}]}"));
  EXPECT_NEAR(s.lr(399), 1e-3, 1e-15);
  EXPECT_NEAR(s.lr(400), 1e-4, 1e-15);
  EXPECT_NEAR(s.lr(450), 1e-5, 1e-15);
}

TEST(Optimizer, GroupsFollowTheReferenceDecaysAndLrMultipliers) {
  const Config cfg = config_from_string(
      "MobileNetV3: {model_name: large, conv_decay: 0.00004, lr_mult_list: [0.25, 0.25, 0.5, 0.5, 0.75]}\n"
      "OptimizerBuilder: {regularizer: {type: L2, factor: 0.0005}}");
  const auto model = build_detector(cfg);
  const auto groups = make_param_groups(*model, cfg);
  auto find = [&](const std::string& name) -> const ParamGroupSpec* {
    for (const auto& g : groups)
      for (const auto& n : g.names)
        if (n == name) return &g;
    return nullptr;
  };
  const auto* bn = find("backbone.blocks.4.res_conv1.bn.weight");
  ASSERT_NE(bn, nullptr);
  EXPECT_EQ(bn->weight_decay, 0.0);
  EXPECT_EQ(bn->lr_mult, 0.25);  // block 4 -> stage 4 / 3 = 1
  EXPECT_EQ(find("backbone.blocks.7.expand.conv.weight")->lr_mult, 0.5);
  EXPECT_EQ(find("backbone.blocks.14.linear.conv.weight")->lr_mult, 0.75);
  EXPECT_EQ(find("backbone.conv_last.conv.weight")->lr_mult, 0.75);  // capped at the last entry
  EXPECT_EQ(find("backbone.conv1.conv.weight")->lr_mult, 0.25);
  EXPECT_NEAR(find("backbone.conv1.conv.weight")->weight_decay, 4e-5, 1e-15);
  EXPECT_NEAR(find("backbone.blocks.4.se_block.conv1.weight")->weight_decay, 5e-4, 1e-15);
  EXPECT_EQ(find("loc.0.pw.conv.weight")->lr_mult, 1.0);
  size_t total = 0;
  for (const auto& g : groups) total += g.params.size();
  EXPECT_EQ(total, model->parameters().size());

  auto bundle = make_optimizer(*model, cfg);
  bundle.set_lr(0.4);
  for (size_t i = 0; i < bundle.groups.size(); ++i)
    EXPECT_NEAR(bundle.optimizer->param_groups()[i].options().get_lr(), 0.4 * bundle.groups[i].lr_mult, 1e-12);
}
