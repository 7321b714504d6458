// Cascade R-CNN MobileNetV3-FPN as a whole: reference layer names, outputs per
// level, gradients reaching every trainable part, frozen backbone BN, bad
// configurations, and overfitting four images.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "compress/prune/flops.h"
#include "compress/prune/report.h"
#include "tests/overfit_fixture.h"
#include "tests/pinned.h"
#include "tests/train_fixture.h"
#include "train/config/config.h"
#include "train/data/loader.h"
#include "train/data/reader.h"
#include "train/engine/evaluate.h"
#include "train/engine/runtime.h"
#include "train/engine/trainer.h"
#include "train/models/cascade_rcnn.h"
#include "train/util/error.h"

using namespace compress;

namespace {
const std::string kRecipe = "configs/cascade_rcnn_mobilenet_v3_large_fpn_320.yml";

CascadeRCNN reference_model(const std::vector<std::string>& overrides = {}) {
  return CascadeRCNN(cascade_rcnn_options_from_config(load_config(testutil::source_path(kRecipe), overrides)));
}

// One batch of two 96 px images with two and zero boxes.
Batch two_images() {
  Batch b;
  b.images = torch::randn({2, 3, 96, 96});
  b.boxes = torch::zeros({2, 2, 4});
  b.boxes[0][0] = torch::tensor({10.f, 12.f, 40.f, 50.f});
  b.boxes[0][1] = torch::tensor({50.f, 20.f, 90.f, 70.f});
  b.labels = torch::tensor({{3, 7}, {-1, -1}}, torch::kLong);
  b.num_boxes = torch::tensor({2, 0}, torch::kLong);
  b.image_ids = {1, 2};
  return b;
}
}  // namespace

TEST(CascadeRCNN, ReferenceLayerNamesArePinned) {
  const auto m = reference_model();
  testutil::expect_pinned("cascade_rcnn_mobilenet_v3_large_fpn_params.txt", testutil::describe_params(*m));
  const auto p = m->named_parameters();
  for (const char* name : {"backbone.blocks.2.res_conv1.conv.weight", "backbone.blocks.11.se_block.conv1.weight",
                           "fpn.fpn_inner.0.conv.weight", "fpn.fpn_layer.2.conv.bias", "fpn.fpn_extra.1.conv.weight",
                           "rpn_head.conv.conv.weight", "rpn_head.rpn_cls_logits.conv.weight", "bbox_head.0.fc6.weight",
                           "bbox_head.2.cls_score.weight", "bbox_head.2.bbox_pred.bias"})
    EXPECT_NE(p.find(name), nullptr) << name;
  // The backbone stops at stride 16 (the last tap): no stride-32 units, no conv_last.
  EXPECT_EQ(p.find("backbone.conv_last.conv.weight"), nullptr);
  EXPECT_EQ(p.find("backbone.blocks.12.linear.conv.weight"), nullptr);
  // 48-channel FPN on taps of 24, 40 and 112 channels; 3 anchors; 81 logits; 48 * 7 * 7 pooled inputs.
  EXPECT_EQ(p["fpn.fpn_inner.0.conv.weight"].sizes(), (std::vector<int64_t>{48, 24, 1, 1}));
  EXPECT_EQ(p["fpn.fpn_extra.0.conv.weight"].sizes(), (std::vector<int64_t>{48, 112, 3, 3}));
  EXPECT_EQ(p["rpn_head.rpn_bbox_pred.conv.weight"].size(0), 12);
  EXPECT_EQ(p["bbox_head.1.cls_score.weight"].sizes(), (std::vector<int64_t>{81, 128}));
  EXPECT_EQ(p["bbox_head.1.fc6.weight"].sizes(), (std::vector<int64_t>{128, 48 * 7 * 7}));
}

TEST(CascadeRCNN, The640RecipeDiffersOnlyInInputSize) {
  // The reference's cascade_rcnn_mobilenetv3_fpn_640 (30.2 AP) is the 320 one at 640 px.
  const Config a = load_config(testutil::source_path(kRecipe));
  const Config b = load_config(testutil::source_path("configs/cascade_rcnn_mobilenet_v3_large_fpn_640.yml"));
  EXPECT_EQ(testutil::describe_params(*CascadeRCNN(cascade_rcnn_options_from_config(a))),
            testutil::describe_params(*CascadeRCNN(cascade_rcnn_options_from_config(b))));
  EXPECT_EQ(eval_input_size(a, 0, "test"), 320);
  EXPECT_EQ(eval_input_size(b, 0, "test"), 640);
  for (const char* key : {"max_iters", "LearningRate.base_lr", "TrainReader.batch_size"})
    EXPECT_EQ(a.get<double>(key), b.get<double>(key)) << key;
  EXPECT_EQ(b.get<std::string>("TrainReader.sample_transforms.0.type"), "ResizeImage");
  EXPECT_EQ(b.get<int64_t>("TrainReader.sample_transforms.0.target_size"), 640);
  EXPECT_EQ(b.get<std::string>("TrainReader.sample_transforms.1.type"), "RandomFlipImage");
}

TEST(CascadeRCNN, OutputsAreLevelsThenObjectnessThenDeltas) {
  auto m = reference_model();
  m->eval();
  const auto out = m->forward(torch::randn({2, 3, 128, 96}));
  ASSERT_EQ(out.size(), 15u);
  for (int64_t l = 0; l < 5; ++l) {
    const int64_t s = int64_t{4} << l;
    EXPECT_EQ(out[l].sizes(), (std::vector<int64_t>{2, 48, (128 + s - 1) / s, (96 + s - 1) / s})) << "P" << l + 2;
    EXPECT_EQ(out[5 + l].size(1), 3);
    EXPECT_EQ(out[10 + l].size(1), 12);
    EXPECT_EQ(out[10 + l].size(2), out[l].size(2));
  }
  const auto anchors = m->anchors(out);
  EXPECT_EQ(anchors[0].size(0), 32 * 24 * 3);
  // P2's anchors are 32 px (area 1024), P6's 512 px.
  const auto a = anchors[4][0];
  EXPECT_NEAR(((a[2] - a[0]) * (a[3] - a[1])).item<double>(), 512.0 * 512.0, 1.0);
  const auto dets = m->postprocess(out, 128, 96);
  ASSERT_EQ(dets.size(), 2u);
  for (const auto& img : dets) {
    EXPECT_LE(img.size(), 100u);
    for (const auto& d : img) {
      EXPECT_TRUE(d.x1 >= 0 && d.x2 <= 96 && d.y1 >= 0 && d.y2 <= 128 && d.x1 <= d.x2 && d.y1 <= d.y2);
      EXPECT_TRUE(d.label >= 0 && d.label < 80 && d.score > 0.05f);
    }
  }
}

TEST(CascadeRCNN, LossReachesEveryTrainablePart) {
  torch::manual_seed(1);
  // Every anchor takes part: on 96 px images the reference's rpn_straddle_thresh 0
  // leaves no P4-P6 anchor (128-512 px) inside, checked below.
  auto m = reference_model({"FPNRPNHead.rpn_target_assign.rpn_straddle_thresh=-1"});
  m->train();
  const Batch b = two_images();
  const auto t = m->loss(m->forward(b.images), b);
  ASSERT_TRUE(std::isfinite(t.total.item<double>()));
  std::vector<std::string> names;
  for (const auto& kv : t.terms) names.push_back(kv.first);
  EXPECT_EQ(names,
            (std::vector<std::string>{"rpn_cls", "rpn_bbox", "cls0", "bbox0", "cls1", "bbox1", "cls2", "bbox2"}));
  // At initialisation the heads predict 1/81 everywhere: cross-entropy ln(81).
  EXPECT_NEAR(t.terms[2].second.item<double>(), std::log(81.0), 0.05);
  t.total.backward();
  for (const auto& p : m->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
  // With the reference's 0, P6 (fed by fpn_extra only through the RPN) learns nothing here.
  torch::manual_seed(1);
  auto r = reference_model();
  r->train();
  r->loss(r->forward(b.images), b).total.backward();
  const auto p = r->named_parameters();
  EXPECT_EQ(p["fpn.fpn_extra.1.conv.weight"].grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(p["rpn_head.conv.conv.weight"].grad().abs().sum().item<double>(), 0.0);
}

TEST(CascadeRCNN, FrozenBackboneNormKeepsItsStatistics) {
  torch::manual_seed(2);
  auto m = reference_model();  // freeze_norm: true, as the reference
  m->train();
  auto& bn = *m->backbone->conv1->bn;
  EXPECT_FALSE(bn.is_training());
  EXPECT_FALSE(bn.weight.requires_grad());
  const auto mean0 = bn.running_mean.clone();
  const Batch b = two_images();
  m->loss(m->forward(b.images), b).total.backward();
  EXPECT_TRUE(torch::equal(bn.running_mean, mean0));
  EXPECT_TRUE(m->rpn_head->is_training());
  // Without freeze_norm the statistics move.
  auto o =
      cascade_rcnn_options_from_config(load_config(testutil::source_path(kRecipe), {"MobileNetV3.freeze_norm=false"}));
  CascadeRCNN live(o);
  live->train();
  live->forward(b.images);
  EXPECT_FALSE(torch::equal(live->backbone->conv1->bn->running_mean, mean0));
}

TEST(CascadeRCNN, BadConfigurationsNameTheKey) {
  const std::string r = testutil::source_path(kRecipe);
  auto message = [&](const std::vector<std::string>& o) {
    try {
      build_detector(load_config(r, o));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({"FPN.min_level=3"}).find("FPN.min_level"), std::string::npos);
  EXPECT_NE(message({"FPNRPNHead.max_level=5"}).find("FPNRPNHead."), std::string::npos);
  EXPECT_NE(message({"FPNRoIAlign.max_level=7"}).find("FPNRoIAlign."), std::string::npos);
  EXPECT_NE(message({"CascadeBBoxAssigner.fg_thresh=[0.5, 0.6]"}).find("one value per stage"), std::string::npos);
  EXPECT_NE(message({"MobileNetV3.feature_maps=[2, 4]"}).find("MobileNetV3.feature_maps"), std::string::npos);
  EXPECT_NE(message({"CascadeBBoxAssigner.bbox_reg_weights=[10, 0, 30]"}).find("bbox_reg_weights"), std::string::npos);
  EXPECT_THROW(load_config(r, {"FPNRoIAlign.canonical_level=3"}), Error);  // the reference spells it canconical_level
}

TEST(CascadeRCNN, OverfitsFourImages) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 4, 128, /*seed=*/11);
  auto o = testutil::tiny_cascade_overrides(d, 96);
  for (const std::string s :
       {"max_iters=250", "snapshot_iter=1000", "OptimizerBuilder.optimizer.type=Adam",
        "OptimizerBuilder.regularizer.type=none", "LearningRate.base_lr=0.002", "MobileNetV3.freeze_norm=false",
        "LearningRate.schedulers=[{type: CosineDecay}, {type: LinearWarmup, start_factor: 0.1, steps: 10}]",
        "TrainReader.worker_num=1", "seed=1"})
    o.push_back(s);
  const auto r = testutil::overfit(load_config(testutil::source_path(kRecipe), o), d);
  ASSERT_GE(r.logged, 2u);
  EXPECT_LT(r.last_loss * 4, r.first_loss) << "loss " << r.first_loss << " -> " << r.last_loss;
  EXPECT_GT(r.ap50, 0.8) << r.table;
}

TEST(CascadeRCNN, FlopsCountTheSharedRpnOnEveryLevelAndTheBoxHeadsOnce) {
  auto m = reference_model();
  const auto cost = prune::model_flops(*m, 320);
  std::map<std::string, int64_t> flops;
  for (const auto& l : cost.layers) flops[l.module] += l.flops;
  // One 3x3 48 -> 48 conv on P2..P6 of a 320 px image: 80^2 + 40^2 + 20^2 + 10^2 + 5^2 cells.
  EXPECT_EQ(flops.at("rpn_head.conv.conv"), int64_t{48} * 48 * 9 * (6400 + 1600 + 400 + 100 + 25));
  // Each box head's fully connected layers count one row (the reference's
  // count of a dynamic RoI number): 2352*128 + 128*128 + 128*81 + 128*4.
  for (const std::string h : {"bbox_head.0", "bbox_head.1", "bbox_head.2"}) {
    EXPECT_EQ(flops.at(h + ".fc6"), 2352 * 128) << h;
    EXPECT_EQ(flops.at(h + ".fc7"), 128 * 128) << h;
    EXPECT_EQ(flops.at(h + ".cls_score") + flops.at(h + ".bbox_pred"), 128 * 81 + 128 * 4) << h;
  }
}

TEST(CascadeRCNN, PruningTheSharedRpnConvReportsItsFlopsOnEveryLevel) {
  auto m = reference_model();
  const auto r = prune::prune_model(*m, {{"rpn_head.conv.conv", 0.5}}, "l1_norm", 320);
  ASSERT_EQ(r.layers.size(), 1u);
  // 3x3 48 -> 48 on P2..P6 of 320 px (6,525 cells), then 48 -> 24; its bias counts no FLOP.
  const int64_t cells = 6400 + 1600 + 400 + 100 + 25;
  EXPECT_EQ(r.layers[0].flops_before, cells * 48 * 9 * 48);
  EXPECT_EQ(r.layers[0].flops_after, cells * 24 * 9 * 48);
  EXPECT_EQ(r.layers[0].channels_after, 24);
  // Fully connected layers count once per row (the RoIs are a dynamic batch,
  // which the reference's `mul` counts as 1): in * out.
  std::map<std::string, prune::ConvChange> by;
  for (const auto& c : r.convs) by[c.module] = c;
  for (const std::string fc : {"bbox_head.0.fc6", "bbox_head.0.fc7", "bbox_head.2.cls_score"}) {
    ASSERT_TRUE(by.count(fc)) << fc << " is not in the FLOPs count";
    const auto w = m->named_parameters()[fc + ".weight"];
    EXPECT_EQ(by.at(fc).flops_before, w.size(0) * w.size(1)) << fc;
    EXPECT_EQ(by.at(fc).params_before, w.size(0) * w.size(1) + w.size(0)) << fc;
  }
  int64_t total = 0;
  for (const auto& c : r.convs) total += c.flops_before;
  EXPECT_EQ(total, r.flops_before);
  // The heads that read it shrink too: the model still runs.
  m->eval();
  EXPECT_EQ(m->forward(torch::zeros({1, 3, 64, 64}))[5].size(1), 3);
}
