// YOLOv3: parameter names, head shapes, target assignment by hand, the loss
// against hand-computed values and a naive scalar reference, decode round trip,
// and overfitting 4 images.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "tests/overfit_fixture.h"
#include "tests/pinned.h"
#include "tests/train_fixture.h"
#include "train/config/config.h"
#include "train/data/reader.h"
#include "train/engine/evaluate.h"
#include "train/engine/runtime.h"
#include "train/engine/trainer.h"
#include "train/models/yolov3.h"
#include "train/util/error.h"

using namespace compress;

namespace {

Detector yolo(const std::string& backbone, int classes = 80) {
  return build_detector(config_from_string(
      "", {"architecture=YOLOv3", "YOLOv3.backbone=" + backbone, "num_classes=" + std::to_string(classes)}));
}

YoloLossOptions reference_anchors(int64_t classes) {
  YoloLossOptions o;
  o.anchors = {{10, 13}, {16, 30}, {33, 23}, {30, 61}, {62, 45}, {59, 119}, {116, 90}, {156, 198}, {373, 326}};
  o.masks = {{6, 7, 8}, {3, 4, 5}, {0, 1, 2}};
  o.num_classes = classes;
  return o;
}

double sig(double x) { return 1 / (1 + std::exp(-x)); }
double bce(double x, double t) { return std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::fabs(x))); }

struct Gt {
  double x1, y1, x2, y2;
  int64_t label;
  double score = 1;  // MixupImage's weight
};

double iou(const double a[4], const double b[4]) {
  const double iw = std::max(0.0, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const double ih = std::max(0.0, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const double inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

// The loss written the slow way: one cell, one anchor, one GT at a time.
std::array<double, 4> naive_loss(const std::vector<torch::Tensor>& outs, const std::vector<std::vector<Gt>>& gts,
                                 int64_t in_h, int64_t in_w, const YoloLossOptions& o) {
  std::array<double, 4> L = {0, 0, 0, 0};  // xy, wh, obj, cls
  const int64_t C = o.num_classes, N = static_cast<int64_t>(gts.size());
  for (size_t s = 0; s < outs.size(); ++s) {
    const auto out = outs[s].contiguous();
    auto v = out.accessor<float, 4>();
    const int64_t A = static_cast<int64_t>(o.masks[s].size()), H = out.size(2), W = out.size(3);
    for (int64_t n = 0; n < N; ++n) {
      struct T {
        double tx, ty, tw, th, sc, w;
        int64_t label;
      };
      std::map<std::array<int64_t, 3>, T> pos;
      for (const Gt& g : gts[n]) {
        const double w = g.x2 - g.x1, h = g.y2 - g.y1;
        int64_t best = 0;
        double bi = -1;
        for (size_t k = 0; k < o.anchors.size(); ++k) {
          const double aw = o.anchors[k].first, ah = o.anchors[k].second;
          const double inter = std::min(w, aw) * std::min(h, ah), u = w * h + aw * ah - inter;
          if (inter / u > bi) bi = inter / u, best = static_cast<int64_t>(k);
        }
        for (int64_t a = 0; a < A; ++a)
          if (o.masks[s][a] == best) {
            const double cx = (g.x1 + g.x2) / 2 / in_w * W, cy = (g.y1 + g.y2) / 2 / in_h * H;
            const int64_t gi = static_cast<int64_t>(cx), gj = static_cast<int64_t>(cy);
            pos[{a, gj, gi}] = {cx - gi,
                                cy - gj,
                                std::log(w / o.anchors[best].first),
                                std::log(h / o.anchors[best].second),
                                2 - w * h / (in_w * in_h),
                                g.score,
                                g.label};
          }
      }
      for (int64_t a = 0; a < A; ++a)
        for (int64_t j = 0; j < H; ++j)
          for (int64_t i = 0; i < W; ++i) {
            auto at = [&](int64_t k) { return static_cast<double>(v[n][a * (5 + C) + k][j][i]); };
            const auto& anc = o.anchors[o.masks[s][a]];
            const double cx = (i + sig(at(0))) * in_w / W, cy = (j + sig(at(1))) * in_h / H;
            const double bw = std::exp(at(2)) * anc.first, bh = std::exp(at(3)) * anc.second;
            const double pb[4] = {cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2};
            double best = 0;
            for (const Gt& g : gts[n]) {
              const double gb[4] = {g.x1, g.y1, g.x2, g.y2};
              best = std::max(best, iou(pb, gb));
            }
            auto it = pos.find({a, j, i});
            if (it != pos.end()) {
              const T& t = it->second;
              L[0] += (bce(at(0), t.tx) + bce(at(1), t.ty)) * t.sc * t.w;
              L[1] += (std::fabs(at(2) - t.tw) + std::fabs(at(3) - t.th)) * t.sc * t.w;
              L[2] += bce(at(4), 1) * t.w;
              const double p = o.label_smooth ? 1 - 1.0 / C : 1, q = o.label_smooth ? 1.0 / C : 0;
              for (int64_t c = 0; c < C; ++c) L[3] += bce(at(5 + c), c == t.label ? p : q) * t.w;
            } else if (best <= o.ignore_thresh) {
              L[2] += bce(at(4), 0);
            }
          }
    }
  }
  for (double& x : L) x /= N;
  return L;
}

// Pads per-image GT lists into the Batch layout.
void to_tensors(const std::vector<std::vector<Gt>>& gts, torch::Tensor& boxes, torch::Tensor& labels,
                torch::Tensor& counts, torch::Tensor* scores = nullptr) {
  size_t M = 1;
  for (const auto& g : gts) M = std::max(M, g.size());
  const int64_t N = static_cast<int64_t>(gts.size());
  boxes = torch::zeros({N, static_cast<int64_t>(M), 4});
  labels = torch::full({N, static_cast<int64_t>(M)}, -1, torch::kLong);
  counts = torch::zeros({N}, torch::kLong);
  if (scores) *scores = torch::zeros({N, static_cast<int64_t>(M)});
  for (int64_t n = 0; n < N; ++n) {
    counts[n] = static_cast<int64_t>(gts[n].size());
    for (size_t m = 0; m < gts[n].size(); ++m) {
      const Gt& g = gts[n][m];
      boxes[n][m] = torch::tensor({g.x1, g.y1, g.x2, g.y2}, torch::kFloat32);
      labels[n][m] = g.label;
      if (scores) (*scores)[n][m] = g.score;
    }
  }
}

}  // namespace

TEST(YOLOv3, ParameterNamesArePinned) {
  testutil::expect_pinned("yolov3_mobilenet_v3_large_params.txt", testutil::describe_params(*yolo("MobileNetV3")));
  testutil::expect_pinned("yolov3_r34_params.txt", testutil::describe_params(*yolo("ResNet")));
}

TEST(YOLOv3, ReferenceLayerNamesAndWidths) {
  const auto m = yolo("MobileNetV3");
  const auto p = m->named_parameters();
  // channel = 512 >> i; .{0,1}.0 and .2 are 1x1 to channel, .{0,1}.1 and .tip 3x3 to 2 * channel.
  for (int i = 0; i < 3; ++i) {
    const int64_t ch = 512 >> i;
    const std::string b = "yolo_block." + std::to_string(i);
    for (const std::string j : {"0", "1"}) {
      EXPECT_EQ(p[b + "." + j + ".0.conv.weight"].size(0), ch);
      EXPECT_EQ(p[b + "." + j + ".0.conv.weight"].size(2), 1);
      EXPECT_EQ(p[b + "." + j + ".1.conv.weight"].size(0), 2 * ch);
      EXPECT_EQ(p[b + "." + j + ".1.conv.weight"].size(2), 3);
    }
    EXPECT_EQ(p[b + ".2.conv.weight"].size(0), ch);
    EXPECT_EQ(p[b + ".tip.conv.weight"].size(0), 2 * ch);
    EXPECT_TRUE(p.contains(b + ".tip.bn.weight"));
    EXPECT_EQ(p["yolo_output." + std::to_string(i) + ".conv.weight"].size(0), 3 * (5 + 80));
    EXPECT_TRUE(p.contains("yolo_output." + std::to_string(i) + ".conv.bias"));
    if (i < 2) EXPECT_EQ(p["yolo_transition." + std::to_string(i) + ".conv.weight"].size(0), ch / 2);
  }
  // Block 1 reads [transition (256), stride-16 tap (112)]; block 0 reads conv_last (960).
  EXPECT_EQ(p["yolo_block.0.0.0.conv.weight"].size(1), 960);
  EXPECT_EQ(p["yolo_block.1.0.0.conv.weight"].size(1), 256 + 112);
  EXPECT_EQ(p["yolo_block.2.0.0.conv.weight"].size(1), 128 + 40);
  const auto r = yolo("ResNet")->named_parameters();
  EXPECT_EQ(r["yolo_block.0.0.0.conv.weight"].size(1), 512);
  EXPECT_EQ(r["yolo_block.1.0.0.conv.weight"].size(1), 256 + 256);
  EXPECT_EQ(r["yolo_block.2.0.0.conv.weight"].size(1), 128 + 128);
  EXPECT_TRUE(r.contains("backbone.res3.0.branch1.conv.weight"));
  EXPECT_FALSE(r.contains("backbone.res2.0.branch1.conv.weight"));  // identity shortcut
  EXPECT_EQ(r["backbone.res5.2.branch2b.conv.weight"].sizes(), torch::IntArrayRef({512, 512, 3, 3}));
}

TEST(YOLOv3, HeadOutputShapesAtThreeScales) {
  torch::NoGradGuard g;
  for (const char* bb : {"MobileNetV3", "ResNet"}) {
    auto m = yolo(bb, 10);
    m->eval();
    auto out = m->forward(torch::randn({2, 3, 320, 320}));
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].sizes(), torch::IntArrayRef({2, 45, 10, 10})) << bb;
    EXPECT_EQ(out[1].sizes(), torch::IntArrayRef({2, 45, 20, 20})) << bb;
    EXPECT_EQ(out[2].sizes(), torch::IntArrayRef({2, 45, 40, 40})) << bb;
  }
  // Not a multiple of 32: the upsampled route follows the tap's size.
  auto m = yolo("MobileNetV3", 10);
  m->eval();
  auto out = m->forward(torch::randn({1, 3, 200, 264}));
  EXPECT_EQ(out[0].sizes(), torch::IntArrayRef({1, 45, 7, 9}));
  EXPECT_EQ(out[1].sizes(), torch::IntArrayRef({1, 45, 13, 17}));
  EXPECT_EQ(out[2].sizes(), torch::IntArrayRef({1, 45, 25, 33}));
}

TEST(YOLOv3, TargetAssignmentByHand) {
  const auto o = reference_anchors(3);
  // GT 1: 100 x 80 centred at (165, 99) of 320 x 320. Shape IoU with (116, 90) is
  // 8000 / 10440 = 0.766, the best of the 9 -> anchor 6, stride 32, mask slot 0,
  // cell (5, 3) of 10 x 10; tx = 5.15625 - 5, ty = 3.09375 - 3.
  // GT 2: 12 x 14 at (44, 60): best (10, 13) (130 / 168) -> anchor 0, stride 8, slot 0,
  // cell (5, 7) of 40 x 40: tx = 5.5 - 5, ty = 7.5 - 7.
  std::vector<std::vector<Gt>> gts = {{{115, 59, 215, 139, 2}, {38, 53, 50, 67, 1}}};
  torch::Tensor boxes, labels, counts;
  to_tensors(gts, boxes, labels, counts);
  auto t0 = assign_yolo_targets(boxes, labels, counts, 0, 10, 10, 320, 320, o);
  EXPECT_EQ(t0.obj.sum().item<float>(), 1.f);
  EXPECT_EQ(t0.obj[0][0][3][5].item<float>(), 1.f);
  EXPECT_NEAR(t0.tx[0][0][3][5].item<float>(), 0.15625, 1e-5);
  EXPECT_NEAR(t0.ty[0][0][3][5].item<float>(), 0.09375, 1e-5);
  EXPECT_NEAR(t0.tw[0][0][3][5].item<float>(), std::log(100.0 / 116), 1e-5);
  EXPECT_NEAR(t0.th[0][0][3][5].item<float>(), std::log(80.0 / 90), 1e-5);
  EXPECT_NEAR(t0.tscale[0][0][3][5].item<float>(), 2 - (100.0 / 320) * (80.0 / 320), 1e-6);
  EXPECT_TRUE(torch::equal(t0.tcls[0][0][3][5], torch::tensor({0.f, 0.f, 1.f})));
  auto t1 = assign_yolo_targets(boxes, labels, counts, 1, 20, 20, 320, 320, o);
  EXPECT_EQ(t1.obj.sum().item<float>(), 0.f);
  auto t2 = assign_yolo_targets(boxes, labels, counts, 2, 40, 40, 320, 320, o);
  EXPECT_EQ(t2.obj.sum().item<float>(), 1.f);
  EXPECT_EQ(t2.obj[0][0][7][5].item<float>(), 1.f);
  EXPECT_NEAR(t2.tx[0][0][7][5].item<float>(), 0.5, 1e-6);
  EXPECT_NEAR(t2.tw[0][0][7][5].item<float>(), std::log(12.0 / 10), 1e-6);
  // Label smoothing: 1 - 1/C and 1/C.
  auto smooth = o;
  smooth.label_smooth = true;
  auto ts = assign_yolo_targets(boxes, labels, counts, 2, 40, 40, 320, 320, smooth);
  EXPECT_TRUE(torch::allclose(ts.tcls[0][0][7][5], torch::tensor({1.f / 3, 2.f / 3, 1.f / 3})));
}

TEST(YOLOv3, LossOnZeroLogitsByHand) {
  // All logits 0: every sigmoid cross-entropy is log 2 whatever the target, each
  // prediction is an anchor-sized box at its cell centre. One GT, 64 x 64 px input,
  // grids 2, 4, 8; ignore_thresh 1 turns the ignore rule off.
  auto o = reference_anchors(2);
  o.ignore_thresh = 1.0;
  std::vector<torch::Tensor> outs = {torch::zeros({1, 21, 2, 2}), torch::zeros({1, 21, 4, 4}),
                                     torch::zeros({1, 21, 8, 8})};
  std::vector<std::vector<Gt>> gts = {{{10, 12, 26, 42, 1}}};  // 16 x 30: exactly anchor 1 (16, 30)
  torch::Tensor boxes, labels, counts;
  to_tensors(gts, boxes, labels, counts);
  const auto l = yolov3_loss(outs, boxes, labels, counts, 64, 64, o);
  const double ln2 = std::log(2.0), sc = 2 - 16.0 * 30 / (64 * 64);
  EXPECT_NEAR(l.xy.item<double>(), 2 * ln2 * sc, 1e-5);
  EXPECT_NEAR(l.wh.item<double>(), 0.0, 1e-6);  // log(16/16), log(30/30)
  EXPECT_NEAR(l.obj.item<double>(), 3 * (4 + 16 + 64) * ln2, 1e-4);
  EXPECT_NEAR(l.cls.item<double>(), 2 * ln2, 1e-5);
  // Twice the batch, same image twice: the mean over the batch is unchanged.
  to_tensors({gts[0], gts[0]}, boxes, labels, counts);
  for (auto& t : outs) t = torch::zeros({2, 21, t.size(2), t.size(3)});
  EXPECT_NEAR(yolov3_loss(outs, boxes, labels, counts, 64, 64, o).obj.item<double>(), 3 * 84 * ln2, 1e-4);
}

TEST(YOLOv3, LossMatchesNaiveReference) {
  torch::manual_seed(3);
  for (bool smooth : {false, true}) {
    auto o = reference_anchors(4);
    o.ignore_thresh = 0.3;  // low, so the ignore rule fires on these random predictions
    o.label_smooth = smooth;
    std::vector<torch::Tensor> outs = {torch::randn({2, 27, 3, 3}), torch::randn({2, 27, 6, 6}),
                                       torch::randn({2, 27, 12, 12})};
    std::vector<std::vector<Gt>> gts = {{{10, 20, 60, 90, 0}, {50, 40, 70, 52, 3}, {0, 0, 96, 96, 1}},
                                        {{30, 30, 40, 45, 2}}};
    torch::Tensor boxes, labels, counts;
    to_tensors(gts, boxes, labels, counts);
    const auto l = yolov3_loss(outs, boxes, labels, counts, 96, 96, o);
    const auto ref = naive_loss(outs, gts, 96, 96, o);
    EXPECT_NEAR(l.xy.item<double>(), ref[0], 1e-3 * std::max(1.0, ref[0]));
    EXPECT_NEAR(l.wh.item<double>(), ref[1], 1e-3 * std::max(1.0, ref[1]));
    EXPECT_NEAR(l.obj.item<double>(), ref[2], 1e-3 * std::max(1.0, ref[2]));
    EXPECT_NEAR(l.cls.item<double>(), ref[3], 1e-3 * std::max(1.0, ref[3]));
    // The ignore rule changed something: without it the objectness loss differs.
    auto no_ignore = o;
    no_ignore.ignore_thresh = 1.0;
    EXPECT_GT(std::fabs(yolov3_loss(outs, boxes, labels, counts, 96, 96, no_ignore).obj.item<double>() - ref[2]), 1e-3);
  }
}

TEST(YOLOv3, LossWeighsEachBoxByItsMixupScore) {
  // Mixed images: each GT's x/y, w/h, positive objectness and class terms are
  // scaled by its score (the reference's gt_score); negatives keep weight 1.
  torch::manual_seed(5);
  auto o = reference_anchors(4);
  o.ignore_thresh = 0.3;
  std::vector<torch::Tensor> outs = {torch::randn({2, 27, 3, 3}), torch::randn({2, 27, 6, 6}),
                                     torch::randn({2, 27, 12, 12})};
  std::vector<std::vector<Gt>> gts = {{{10, 20, 60, 90, 0, 0.3}, {50, 40, 70, 52, 3, 0.7}, {0, 0, 96, 96, 1, 0.7}},
                                      {{30, 30, 40, 45, 2, 0.45}}};
  torch::Tensor boxes, labels, counts, scores;
  to_tensors(gts, boxes, labels, counts, &scores);
  const auto l = yolov3_loss(outs, boxes, labels, counts, 96, 96, o, scores);
  const auto ref = naive_loss(outs, gts, 96, 96, o);
  EXPECT_NEAR(l.xy.item<double>(), ref[0], 1e-3 * std::max(1.0, ref[0]));
  EXPECT_NEAR(l.wh.item<double>(), ref[1], 1e-3 * std::max(1.0, ref[1]));
  EXPECT_NEAR(l.obj.item<double>(), ref[2], 1e-3 * std::max(1.0, ref[2]));
  EXPECT_NEAR(l.cls.item<double>(), ref[3], 1e-3 * std::max(1.0, ref[3]));
  // Scores of 1 are the unweighted loss; the weights did change every term.
  const auto unweighted = yolov3_loss(outs, boxes, labels, counts, 96, 96, o);
  const auto ones = yolov3_loss(outs, boxes, labels, counts, 96, 96, o, (scores > 0).to(torch::kFloat32));
  EXPECT_NEAR(ones.total().item<double>(), unweighted.total().item<double>(), 1e-4);
  EXPECT_LT(l.xy.item<double>(), unweighted.xy.item<double>());
  EXPECT_LT(l.cls.item<double>(), unweighted.cls.item<double>());
  // By hand on zero logits (as LossOnZeroLogitsByHand), one GT at score 0.4: the
  // positive terms scale by 0.4, the other 3 x 84 - 1 predictions' log 2 stays.
  auto h = reference_anchors(2);
  h.ignore_thresh = 1.0;
  std::vector<torch::Tensor> zeros = {torch::zeros({1, 21, 2, 2}), torch::zeros({1, 21, 4, 4}),
                                      torch::zeros({1, 21, 8, 8})};
  to_tensors({{{10, 12, 26, 42, 1, 0.4}}}, boxes, labels, counts, &scores);
  const auto z = yolov3_loss(zeros, boxes, labels, counts, 64, 64, h, scores);
  const double ln2 = std::log(2.0), sc = 2 - 16.0 * 30 / (64 * 64);
  EXPECT_NEAR(z.xy.item<double>(), 0.4 * 2 * ln2 * sc, 1e-5);
  EXPECT_NEAR(z.obj.item<double>(), (3 * 84 - 1 + 0.4) * ln2, 1e-4);
  EXPECT_NEAR(z.cls.item<double>(), 0.4 * 2 * ln2, 1e-5);
}

TEST(YOLOv3, LossGradientReachesEveryOutput) {
  auto o = reference_anchors(2);
  std::vector<torch::Tensor> outs = {torch::randn({1, 21, 2, 2}).requires_grad_(),
                                     torch::randn({1, 21, 4, 4}).requires_grad_(),
                                     torch::randn({1, 21, 8, 8}).requires_grad_()};
  torch::Tensor boxes, labels, counts;
  to_tensors({{{10, 12, 26, 42, 1}}}, boxes, labels, counts);
  yolov3_loss(outs, boxes, labels, counts, 64, 64, o).total().backward();
  for (const auto& t : outs) EXPECT_GT(t.grad().abs().sum().item<double>(), 0);
}

TEST(YOLOv3, DecodeRoundTrip) {
  // Raw outputs built from a box's targets decode back to that box.
  const auto o = reference_anchors(1);
  auto m = std::make_shared<YOLOv3Impl>(YOLOv3Options{"MobileNetV3", "small", 0.5, 34, o, {}});
  std::vector<torch::Tensor> outs = {torch::full({1, 18, 10, 10}, -20.f), torch::full({1, 18, 20, 20}, -20.f),
                                     torch::full({1, 18, 40, 40}, -20.f)};
  std::vector<std::vector<Gt>> gts = {{{115, 59, 215, 139, 0}}};
  torch::Tensor boxes, labels, counts;
  to_tensors(gts, boxes, labels, counts);
  const auto t = assign_yolo_targets(boxes, labels, counts, 0, 10, 10, 320, 320, o);
  auto logit = [](double p) { return static_cast<float>(std::log(p / (1 - p))); };
  outs[0][0][0][3][5] = logit(t.tx[0][0][3][5].item<double>());
  outs[0][0][1][3][5] = logit(t.ty[0][0][3][5].item<double>());
  outs[0][0][2][3][5] = t.tw[0][0][3][5].item<float>();
  outs[0][0][3][3][5] = t.th[0][0][3][5].item<float>();
  outs[0][0][4][3][5] = 10.f;  // objectness
  outs[0][0][5][3][5] = 10.f;  // class 0
  const auto dets = m->postprocess(outs, 320, 320);
  ASSERT_EQ(dets.size(), 1u);
  ASSERT_EQ(dets[0].size(), 1u);
  const auto& d = dets[0][0];
  EXPECT_NEAR(d.x1, 115, 1e-3);
  EXPECT_NEAR(d.y1, 59, 1e-3);
  EXPECT_NEAR(d.x2, 215, 1e-3);
  EXPECT_NEAR(d.y2, 139, 1e-3);
  EXPECT_NEAR(d.score, sig(10) * sig(10), 1e-5);
  EXPECT_EQ(d.label, 0);
}

TEST(YOLOv3, BadConfigurationsAreErrors) {
  EXPECT_THROW(
      build_detector(config_from_string("", {"architecture=YOLOv3", "YOLOv3Head.anchor_masks=[[0, 1], [2, 3]]"})),
      Error);
  EXPECT_THROW(
      build_detector(config_from_string("", {"architecture=YOLOv3", "YOLOv3Head.anchor_masks=[[0], [1], [9]]"})),
      Error);
  EXPECT_THROW(
      build_detector(config_from_string("", {"architecture=YOLOv3", "ResNet.depth=50", "YOLOv3.backbone=ResNet"})),
      Error);
  EXPECT_THROW(build_detector(config_from_string("", {"architecture=YOLOv3", "MobileNetV3.feature_maps=[1, 2, 3]"})),
               Error);
}

TEST(YOLOv3, OverfitsFourImages) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 4, 128, /*seed=*/11);
  auto o = testutil::tiny_yolo_overrides(d, 96);
  for (const std::string s :
       {"max_iters=200", "snapshot_iter=1000", "OptimizerBuilder.optimizer.type=Adam",
        "OptimizerBuilder.regularizer.type=none", "LearningRate.base_lr=0.001",
        "LearningRate.schedulers=[{type: CosineDecay}, {type: LinearWarmup, start_factor: 0.1, steps: 20}]",
        "TrainReader.worker_num=1", "seed=1"})
    o.push_back(s);
  const auto r = testutil::overfit(config_from_string("", o), d);
  ASSERT_GE(r.logged, 2u);
  EXPECT_LT(r.last_loss * 10, r.first_loss) << "loss " << r.first_loss << " -> " << r.last_loss;
  EXPECT_GT(r.ap50, 0.9) << r.table;
}

TEST(YOLOv3, FromScratchInitOptions) {
  // obj_prior p sets every anchor's objectness bias to -log((1 - p) / p), so a
  // fresh model predicts objectness p everywhere; the other channels keep the
  // default init. zero_init_residual zeroes each BasicBlock's last BN scale.
  YOLOv3Options o{"ResNet", "large", 1.0, 18, reference_anchors(2), {}};
  o.obj_prior = 0.01;
  o.zero_init_residual = true;
  auto mp = std::make_shared<YOLOv3Impl>(o);
  auto& m = *mp;
  for (size_t i = 0; i < m.yolo_output->size(); ++i) {
    const auto b = m.yolo_output[i]->as<ConvBNLayerImpl>()->conv->bias.view({3, 7});
    EXPECT_TRUE(torch::allclose(b.select(1, 4), torch::full({3}, -std::log(99.0f)))) << i;
    EXPECT_GT(b.select(1, 0).abs().sum().item<double>(), 0) << i;  // x: default init, not touched
  }
  int64_t blocks = 0;
  for (const auto& item : m.named_modules())
    if (auto* blk = dynamic_cast<BasicBlockImpl*>(item.value().get())) {
      ++blocks;
      EXPECT_EQ(blk->branch2b->bn->weight.abs().sum().item<double>(), 0) << item.key();
      EXPECT_EQ(blk->branch2a->bn->weight.min().item<double>(), 1) << item.key();
    }
  EXPECT_EQ(blocks, 8);  // ResNet-18
  // A zero-initialised block is its shortcut: with an identity shortcut, relu(x).
  auto blk = BasicBlock(8, 8, 1, true);
  const auto x = torch::randn({1, 8, 6, 6});
  EXPECT_TRUE(torch::allclose(blk->forward(x), torch::relu(x)));
  // Out-of-range priors are config errors naming the key.
  auto cfg = config_from_string("architecture: YOLOv3\nnum_classes: 2\nYOLOv3Head:\n  obj_prior: 1.5\n", {});
  try {
    yolov3_options_from_config(cfg);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("obj_prior"), std::string::npos) << e.what();
  }
}
