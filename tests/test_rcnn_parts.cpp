// Cascade R-CNN's parts against hand-computed values and naive references:
// anchors, box deltas, balanced L1, RoIAlign, RoI levels, RPN targets,
// sampling, proposals, FPN and the truncated MobileNetV3.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "train/models/mobilenet_v3.h"
#include "train/models/rcnn/anchors.h"
#include "train/models/rcnn/balanced_l1.h"
#include "train/models/rcnn/box_transform.h"
#include "train/models/rcnn/fpn.h"
#include "train/models/rcnn/roi_align.h"
#include "train/models/rcnn/roi_targets.h"
#include "train/models/rcnn/rpn.h"
#include "train/models/rcnn/sampler.h"

using namespace compress;

namespace {
void expect_box(const torch::Tensor& b, std::array<double, 4> want, double tol = 1e-4) {
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(b[k].item<double>(), want[k], tol) << "coordinate " << k;
}

// Detectron's roi_align forward, one sample at a time (the reference's kernel).
double bilinear(const torch::Tensor& f, double y, double x) {  // f (H, W) double
  const int64_t H = f.size(0), W = f.size(1);
  if (y < -1.0 || y > H || x < -1.0 || x > W) return 0;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  int64_t yl = static_cast<int64_t>(y), xl = static_cast<int64_t>(x), yh, xh;
  if (yl >= H - 1)
    yh = yl = H - 1, y = static_cast<double>(yl);
  else
    yh = yl + 1;
  if (xl >= W - 1)
    xh = xl = W - 1, x = static_cast<double>(xl);
  else
    xh = xl + 1;
  const double ly = y - yl, lx = x - xl, hy = 1 - ly, hx = 1 - lx;
  auto a = f.accessor<double, 2>();
  return hy * hx * a[yl][xl] + hy * lx * a[yl][xh] + ly * hx * a[yh][xl] + ly * lx * a[yh][xh];
}

torch::Tensor naive_roi_align(const torch::Tensor& feat, const torch::Tensor& rois, const torch::Tensor& bidx,
                              double scale, int64_t out, int64_t sr) {
  const int64_t R = rois.size(0), C = feat.size(1);
  auto res = torch::zeros({R, C, out, out}, torch::kFloat64);
  for (int64_t r = 0; r < R; ++r) {
    const double x1 = rois[r][0].item<double>() * scale, y1 = rois[r][1].item<double>() * scale;
    const double rw = std::max(rois[r][2].item<double>() * scale - x1, 1.0);
    const double rh = std::max(rois[r][3].item<double>() * scale - y1, 1.0);
    const double bw = rw / out, bh = rh / out;
    for (int64_t c = 0; c < C; ++c) {
      const auto f = feat[bidx[r].item<int64_t>()][c].to(torch::kFloat64).contiguous();
      for (int64_t ph = 0; ph < out; ++ph)
        for (int64_t pw = 0; pw < out; ++pw) {
          double sum = 0;
          for (int64_t iy = 0; iy < sr; ++iy)
            for (int64_t ix = 0; ix < sr; ++ix)
              sum += bilinear(f, y1 + ph * bh + (iy + 0.5) * bh / sr, x1 + pw * bw + (ix + 0.5) * bw / sr);
          res[r][c][ph][pw] = sum / (sr * sr);
        }
    }
  }
  return res;
}
}  // namespace

TEST(RcnnParts, AnchorsByHand) {
  // 2 x 3 map, stride 4, size 8, ratios h/w 0.5, 1, 2: 18 anchors in (y, x, ratio) order.
  const auto a = level_anchors(2, 3, 4, 8, {0.5, 1.0, 2.0});
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{18, 4}));
  const double hw = 4 / std::sqrt(0.5), hh = 4 * std::sqrt(0.5);         // half of w = 8/sqrt(r), h = 8 sqrt(r)
  expect_box(a[0], {2 - hw, 2 - hh, 2 + hw, 2 + hh});                    // cell (0, 0), ratio 0.5, centre (2, 2)
  expect_box(a[(1 * 3 + 2) * 3 + 1], {6, 2, 14, 10});                    // cell (y 1, x 2), square, centre (10, 6)
  expect_box(a[(0 * 3 + 1) * 3 + 2], {6 - hh, 2 - hw, 6 + hh, 2 + hw});  // cell (0, 1), ratio 2
  // Every anchor of a level has the same area, size^2.
  const auto area = (a.select(1, 2) - a.select(1, 0)) * (a.select(1, 3) - a.select(1, 1));
  EXPECT_TRUE(torch::allclose(area, torch::full_like(area, 64.0), 1e-4));
}

TEST(RcnnParts, BoxDeltasByHandAndRoundTrip) {
  const auto roi = torch::tensor({0.f, 0.f, 10.f, 20.f}).view({1, 4});
  const auto box = torch::tensor({2.f, 1.f, 14.f, 21.f}).view({1, 4});
  // centres (5, 10) -> (8, 11), sizes (10, 20) -> (12, 20); weights (10, 10, 5, 5).
  const auto d = rcnn_encode(box, roi, {10, 10, 5, 5});
  expect_box(d[0], {10 * 3.0 / 10, 10 * 1.0 / 20, 5 * std::log(1.2), 0});
  expect_box(rcnn_decode(d, roi, {10, 10, 5, 5})[0], {2, 1, 14, 21});
  const auto rois = torch::rand({50, 2}) * 50;
  const auto r = torch::cat({rois, rois + 1 + torch::rand({50, 2}) * 30}, 1);
  const auto b = torch::cat({rois + torch::rand({50, 2}), rois + 2 + torch::rand({50, 2}) * 30}, 1);
  for (float w : {1.f, 10.f, 30.f})
    EXPECT_TRUE(
        torch::allclose(rcnn_decode(rcnn_encode(b, r, {w, w, w / 2, w / 2}), r, {w, w, w / 2, w / 2}), b, 1e-4, 1e-3));
  // A wild width delta is clamped at log(1000 / 16): the box is at most 62.5x the RoI.
  const auto wild = rcnn_decode(torch::tensor({0.f, 0.f, 100.f, 0.f}).view({1, 4}), roi, {1, 1, 1, 1});
  EXPECT_NEAR((wild[0][2] - wild[0][0]).item<double>(), 10 * 62.5, 1e-2);
  expect_box(clip_boxes(torch::tensor({-5.f, 3.f, 40.f, 99.f}), 50, 30), {0, 3, 30, 50});
}

TEST(RcnnParts, BalancedL1ValueAndGradientByHand) {
  // Libra R-CNN defines the loss by its gradient: alpha ln(b|x|/beta + 1) inside
  // beta, gamma outside, with alpha ln(b + 1) = gamma so the two meet.
  const BalancedL1Options o{0.5, 1.5, 1.0};
  const double b = std::exp(1.5 / 0.5) - 1;
  auto x = torch::tensor({-2.0, -0.5, 0.0, 0.25, 0.999999, 1.000001, 3.0}, torch::kFloat64).requires_grad_();
  const auto l = balanced_l1(x, o);
  l.sum().backward();
  const auto g = x.grad();
  for (int k : {0, 6}) EXPECT_NEAR(std::abs(g[k].item<double>()), 1.5, 1e-9);
  for (int k : {1, 3}) {
    const double v = std::abs(x[k].item<double>());
    EXPECT_NEAR(std::abs(g[k].item<double>()), 0.5 * std::log(b * v + 1), 1e-9) << v;
  }
  EXPECT_NEAR(l[2].item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(l[4].item<double>(), l[5].item<double>(), 1e-5);  // continuous at beta
  EXPECT_NEAR(g[4].item<double>(), g[5].item<double>(), 1e-5);  // and so is the slope
  // The loss is even, and its value at 3 follows gamma x + gamma / b - alpha beta.
  EXPECT_NEAR(l[6].item<double>(), 1.5 * 3 + 1.5 / b - 0.5, 1e-9);
  EXPECT_NEAR(balanced_l1(torch::tensor({-0.7}), o).item<double>(), balanced_l1(torch::tensor({0.7}), o).item<double>(),
              1e-6);
}

TEST(RcnnParts, RoIAlignMatchesNaiveKernel) {
  torch::manual_seed(3);
  const auto feat = torch::randn({2, 3, 9, 11}, torch::kFloat64);
  // RoIs in input pixels at scale 1/4: inside, on the border, partly outside,
  // smaller than one feature pixel, and wholly outside.
  const auto rois = torch::tensor({{4.0, 4.0, 30.0, 20.0},
                                   {0.0, 0.0, 44.0, 36.0},
                                   {-10.0, -6.0, 12.0, 50.0},
                                   {13.0, 17.0, 14.5, 17.5},
                                   {30.0, 28.0, 60.0, 70.0},
                                   {100.0, 100.0, 120.0, 130.0}},
                                  torch::kFloat64);
  const auto bidx = torch::tensor({0, 1, 0, 1, 1, 0}, torch::kLong);
  for (int64_t sr : {1, 2}) {
    const auto want = naive_roi_align(feat, rois, bidx, 0.25, 7, sr);
    for (const auto& [name, got] :
         {std::pair{"roi_align_cpu", roi_align_cpu(feat, rois, bidx, 0.25, 7, sr)},
          std::pair{"roi_align_vectorized", roi_align_vectorized(feat, rois, bidx, 0.25, 7, sr)}})
      EXPECT_TRUE(torch::allclose(got, want, 1e-10, 1e-12))
          << name << ", sampling ratio " << sr << ", max diff " << (got - want).abs().max().item<double>();
    // float32 too, as the model runs it.
    const auto f32 = roi_align_cpu(feat.to(torch::kFloat32), rois.to(torch::kFloat32), bidx, 0.25, 7, sr);
    EXPECT_LT((f32.to(torch::kFloat64) - want).abs().max().item<double>(), 1e-5);
  }
  EXPECT_EQ(roi_align(feat, rois.slice(0, 0, 0), bidx.slice(0, 0, 0), 0.25, 7, 2).size(0), 0);
}

TEST(RcnnParts, RoIAlignGradientMatchesFiniteDifferences) {
  torch::manual_seed(4);
  auto feat = torch::randn({1, 2, 6, 6}, torch::kFloat64).requires_grad_();
  const auto rois = torch::tensor({{1.0, 2.0, 17.0, 13.0}, {-3.0, 5.0, 9.0, 30.0}}, torch::kFloat64);
  const auto bidx = torch::zeros({2}, torch::kLong);
  const auto w = torch::randn({2, 2, 3, 3}, torch::kFloat64);
  (roi_align(feat, rois, bidx, 0.25, 3, 2) * w).sum().backward();
  const auto grad = feat.grad().clone();
  // The CPU kernel's hand-written backward equals autograd through the vectorized form.
  auto feat2 = feat.detach().clone().requires_grad_();
  (roi_align_vectorized(feat2, rois, bidx, 0.25, 3, 2) * w).sum().backward();
  EXPECT_TRUE(torch::allclose(grad, feat2.grad(), 1e-12, 1e-12)) << (grad - feat2.grad()).abs().max();
  auto f = feat.detach().clone();
  const double eps = 1e-6;
  for (int64_t k : {0, 7, 14, 20, 35, 41, 50, 66}) {
    auto v = f.view({-1});
    const double old = v[k].item<double>();
    v[k] = old + eps;
    const double up = (roi_align(f, rois, bidx, 0.25, 3, 2) * w).sum().item<double>();
    v[k] = old - eps;
    const double down = (roi_align(f, rois, bidx, 0.25, 3, 2) * w).sum().item<double>();
    v[k] = old;
    EXPECT_NEAR(grad.view({-1})[k].item<double>(), (up - down) / (2 * eps), 1e-6) << "element " << k;
  }
}

TEST(RcnnParts, RoILevelsByHand) {
  RoIAlignOptions o;  // canonical level 3 at 112 px, levels 2..5
  const auto rois = torch::tensor({{0.f, 0.f, 112.f, 112.f},
                                   {0.f, 0.f, 224.f, 224.f},
                                   {10.f, 10.f, 66.f, 66.f},
                                   {0.f, 0.f, 20.f, 20.f},
                                   {0.f, 0.f, 1000.f, 1000.f},
                                   {0.f, 0.f, 223.f, 223.f}});
  const auto l = roi_levels(rois, o);
  EXPECT_EQ(std::vector<int64_t>(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + 6),
            (std::vector<int64_t>{3, 4, 2, 2, 5, 3}));
  // Pooling per level equals pooling each RoI from its level's map by hand.
  torch::manual_seed(5);
  std::vector<torch::Tensor> feats;
  for (int64_t lv = 2; lv <= 6; ++lv) feats.push_back(torch::randn({1, 2, 512 >> lv, 512 >> lv}));
  const auto bidx = torch::zeros({6}, torch::kLong);
  const auto got = multilevel_roi_align(feats, 2, rois, bidx, o);
  for (int64_t r = 0; r < 6; ++r) {
    const int64_t lv = l[r].item<int64_t>();
    const auto want = roi_align(feats[lv - 2], rois.slice(0, r, r + 1), bidx.slice(0, r, r + 1), 1.0 / (1 << lv), 7, 2);
    EXPECT_TRUE(torch::allclose(got.slice(0, r, r + 1), want)) << "RoI " << r;
  }
}

TEST(RcnnParts, AnchorAssignmentByHand) {
  // Four anchors, two GT boxes.
  const auto anchors = torch::tensor({{0.f, 0.f, 10.f, 10.f},      // IoU 1 with gt 0: positive
                                      {0.f, 0.f, 10.f, 12.f},      // IoU 10/12 = 0.83 with gt 0: positive
                                      {50.f, 50.f, 60.f, 60.f},    // nothing: negative
                                      {20.f, 20.f, 36.f, 36.f},    // IoU 0.39 with gt 1, its best: positive
                                      {18.f, 18.f, 34.f, 36.f}});  // IoU 100 / 288 = 0.35 with gt 1: ignored
  const auto gt = torch::tensor({{0.f, 0.f, 10.f, 10.f}, {24.f, 24.f, 34.f, 34.f}});
  const auto [labels, matched] = assign_anchors(anchors, gt, RpnTargetOptions{}, 100, 100);
  const std::vector<int64_t> want = {1, 1, 0, 1, -1};
  for (int k = 0; k < 5; ++k) EXPECT_EQ(labels[k].item<int64_t>(), want[k]) << "anchor " << k;
  EXPECT_EQ(matched[3].item<int64_t>(), 1);
  // No GT: every anchor is background.
  EXPECT_EQ(assign_anchors(anchors, torch::zeros({0, 4}), {}, 100, 100).first.sum().item<int64_t>(), 0);
}

TEST(RcnnParts, AnchorsStraddlingTheImageTakeNoPart) {
  // A 35 x 40 (W x H) image, the reference's rpn_straddle_thresh 0.
  const auto anchors = torch::tensor({{0.f, 0.f, 10.f, 10.f},     // IoU 1 with gt 0, inside
                                      {-2.f, 20.f, 8.f, 30.f},    // background, 2 px out on the left
                                      {20.f, 20.f, 36.f, 36.f},   // gt 1's best overall, 1 px out on the right
                                      {18.f, 18.f, 34.f, 36.f},   // IoU 0.35 with gt 1, inside: its best inside
                                      {0.f, 30.f, 10.f, 40.f}});  // background, ending on the bottom border
  const auto gt = torch::tensor({{0.f, 0.f, 10.f, 10.f}, {24.f, 24.f, 34.f, 34.f}});
  RpnTargetOptions o;
  auto labels = assign_anchors(anchors, gt, o, 40, 35).first;
  std::vector<int64_t> want = {1, -1, -1, 1, 0};
  for (int k = 0; k < 5; ++k) EXPECT_EQ(labels[k].item<int64_t>(), want[k]) << "anchor " << k;
  // A 2 px margin lets anchor 1 back in as a negative, and anchor 2 as gt 1's
  // best again, which leaves anchor 3 between the thresholds: ignored.
  o.straddle_thresh = 2;
  labels = assign_anchors(anchors, gt, o, 40, 35).first;
  want = {1, 0, 1, -1, 0};
  for (int k = 0; k < 5; ++k) EXPECT_EQ(labels[k].item<int64_t>(), want[k]) << "margin 2, anchor " << k;
  // -1 keeps every anchor, as before the rule; without GT, straddlers are still ignored.
  o.straddle_thresh = -1;
  EXPECT_EQ(assign_anchors(anchors, gt, o, 40, 35).first[2].item<int64_t>(), 1);
  const auto none = assign_anchors(anchors, torch::zeros({0, 4}), RpnTargetOptions{}, 40, 35).first;
  EXPECT_EQ(none[1].item<int64_t>(), -1);
  EXPECT_EQ(none[0].item<int64_t>(), 0);
}

TEST(RcnnParts, BalancedSamplingCounts) {
  torch::manual_seed(6);
  auto labels = torch::cat(
      {torch::ones({10}, torch::kLong) * 3, torch::zeros({100}, torch::kLong), -torch::ones({5}, torch::kLong)});
  auto s = sample_balanced(labels, 16, 0.25);
  EXPECT_EQ((s > 0).sum().item<int64_t>(), 4);
  EXPECT_EQ((s == 0).sum().item<int64_t>(), 12);
  EXPECT_TRUE((s.slice(0, 0, 10) == 3).logical_or(s.slice(0, 0, 10) == -1).all().item<bool>());  // labels kept
  EXPECT_TRUE((s.slice(0, 110) == -1).all().item<bool>());
  // Few foregrounds: backgrounds fill the rest.
  s = sample_balanced(torch::cat({torch::ones({2}, torch::kLong), torch::zeros({100}, torch::kLong)}), 16, 0.25);
  EXPECT_EQ((s > 0).sum().item<int64_t>(), 2);
  EXPECT_EQ((s == 0).sum().item<int64_t>(), 14);
}

TEST(RcnnParts, RoiTargetsAddGtAndUseStageThreshold) {
  torch::manual_seed(7);
  const auto gt = torch::tensor({{10.f, 10.f, 50.f, 50.f}});
  const auto gl = torch::tensor({4}, torch::kLong);
  // Proposals at IoU 0.78, 0.6 and 0 with the GT.
  const auto props = torch::tensor({{15.f, 10.f, 55.f, 50.f},  // IoU 35*40 / (2*1600 - 1400) = 0.778
                                    {20.f, 10.f, 60.f, 50.f},  // IoU 1200 / 2000 = 0.6
                                    {100.f, 100.f, 120.f, 120.f}});
  for (double t : {0.5, 0.7}) {
    RoiSampleOptions o{t, t, 0.0, 512, 0.25};
    const auto s = sample_rois(props, gt, gl, o);
    ASSERT_EQ(s.rois.size(0), 4);  // 3 proposals + the GT box, all sampled
    const int64_t fg = (s.labels > 0).sum().item<int64_t>();
    EXPECT_EQ(fg, t == 0.5 ? 3 : 2) << "threshold " << t;  // the GT itself, 0.778, and 0.6 only at 0.5
    EXPECT_TRUE((s.labels.masked_select(s.labels > 0) == 5).all().item<bool>());  // class 4 -> label 5
    EXPECT_TRUE(
        torch::allclose(s.gt_boxes.index_select(0, torch::nonzero(s.labels > 0).view({-1})), gt.expand({fg, 4})));
  }
  // No GT in the image: everything is background.
  const auto s = sample_rois(props, torch::zeros({0, 4}), torch::zeros({0}, torch::kLong), RoiSampleOptions{});
  EXPECT_EQ((s.labels == 0).sum().item<int64_t>(), 3);
}

TEST(RcnnParts, ProposalsAreDecodedClippedAndSuppressed) {
  // One level, four anchors; zero deltas, so proposals are the anchors, clipped.
  const auto anchors = torch::tensor({{0.f, 0.f, 20.f, 20.f},
                                      {1.f, 1.f, 21.f, 21.f},    // IoU 0.82 with the first: suppressed
                                      {30.f, 30.f, 80.f, 80.f},  // clipped to the 64 x 64 image
                                      {40.f, 0.f, 50.f, 10.f}});
  const auto logits = torch::tensor({3.f, 2.f, 1.f, -1.f});
  ProposalOptions o{4, 10, 0.7, 0.0};
  auto p = generate_proposals({logits}, {torch::zeros({4, 4})}, {anchors}, 64, 64, o);
  ASSERT_EQ(p.size(0), 3);
  expect_box(p[0], {0, 0, 20, 20});
  expect_box(p[1], {30, 30, 64, 64});
  expect_box(p[2], {40, 0, 50, 10});
  // pre_nms_top_n 1 keeps the best only; a delta moves the box.
  o.pre_nms_top_n = 1;
  auto d = torch::zeros({4, 4});
  d[0][0] = 0.5;  // dx = 0.5 of the 20 px width
  p = generate_proposals({logits}, {d}, {anchors}, 64, 64, o);
  ASSERT_EQ(p.size(0), 1);
  expect_box(p[0], {10, 0, 30, 20});
  // Two levels: the post_nms_top_n best over both.
  o = ProposalOptions{4, 2, 0.7, 0.0};
  p = generate_proposals({logits, torch::tensor({5.f})}, {torch::zeros({4, 4}), torch::zeros({1, 4})},
                         {anchors, torch::tensor({{2.f, 40.f, 12.f, 60.f}})}, 64, 64, o);
  ASSERT_EQ(p.size(0), 2);
  expect_box(p[0], {2, 40, 12, 60});
  expect_box(p[1], {0, 0, 20, 20});
}

TEST(RcnnParts, EqualScoresKeepTheLowerIndexAsOnnxTopK) {
  // Five disjoint anchors, four with the same logit (black backgrounds give
  // such ties): the two best are index 0 (the highest) and then index 1 of the
  // tied ones, whatever the sort's internal order; over all levels the same.
  const auto anchors = torch::tensor({{0.f, 0.f, 8.f, 8.f},
                                      {10.f, 0.f, 18.f, 8.f},
                                      {20.f, 0.f, 28.f, 8.f},
                                      {30.f, 0.f, 38.f, 8.f},
                                      {40.f, 0.f, 48.f, 8.f}});
  const auto logits = torch::tensor({1.f, 2.f, 1.f, 1.f, 1.f});
  auto p = generate_proposals({logits}, {torch::zeros({5, 4})}, {anchors}, 64, 64, ProposalOptions{3, 10, 0.7, 0.0});
  ASSERT_EQ(p.size(0), 3);
  expect_box(p[0], {10, 0, 18, 8});
  expect_box(p[1], {0, 0, 8, 8});
  expect_box(p[2], {20, 0, 28, 8});
  // Two levels tied at the cut: the first level's box comes first.
  p = generate_proposals({torch::tensor({1.f}), torch::tensor({1.f})}, {torch::zeros({1, 4}), torch::zeros({1, 4})},
                         {anchors.slice(0, 3, 4), anchors.slice(0, 4, 5)}, 64, 64, ProposalOptions{1, 1, 0.7, 0.0});
  ASSERT_EQ(p.size(0), 1);
  expect_box(p[0], {30, 0, 38, 8});
}

TEST(RcnnParts, RpnOutputsFlattenInAnchorOrder) {
  // Channel a of the objectness map at (y, x) is anchor (y * W + x) * A + a;
  // deltas channel 4a + k is its coordinate k.
  const auto cls = torch::arange(2 * 3 * 2 * 4, torch::kFloat32).view({2, 3, 2, 4});
  const auto flat = flatten_objectness(cls);
  ASSERT_EQ(flat.sizes(), (std::vector<int64_t>{2, 24}));
  EXPECT_EQ(flat[1][(1 * 4 + 2) * 3 + 2].item<float>(), cls[1][2][1][2].item<float>());
  const auto box = torch::arange(1 * 12 * 2 * 4, torch::kFloat32).view({1, 12, 2, 4});
  const auto fd = flatten_deltas(box);
  ASSERT_EQ(fd.sizes(), (std::vector<int64_t>{1, 24, 4}));
  EXPECT_EQ(fd[0][(0 * 4 + 3) * 3 + 1][2].item<float>(), box[0][4 * 1 + 2][0][3].item<float>());
}

TEST(RcnnParts, FpnLevelsAndExtraConvs) {
  FPN fpn(std::vector<int64_t>{24, 40, 112}, 48, 2, 6, true);
  const auto out =
      fpn->forward({torch::randn({1, 24, 25, 25}), torch::randn({1, 40, 13, 13}), torch::randn({1, 112, 7, 7})});
  ASSERT_EQ(out.size(), 5u);
  const std::vector<int64_t> sizes = {25, 13, 7, 4, 2};  // odd maps: upsampling is sized to each lateral
  for (size_t l = 0; l < 5; ++l) {
    EXPECT_EQ(out[l].size(1), 48);
    EXPECT_EQ(out[l].size(2), sizes[l]) << "level " << l + 2;
  }
  // P5's conv reads the top backbone tap (112 channels), P6's reads P5.
  EXPECT_EQ(fpn->fpn_extra[0]->as<ConvBNLayer>()->conv->weight.size(1), 112);
  EXPECT_EQ(fpn->fpn_extra[1]->as<ConvBNLayer>()->conv->weight.size(1), 48);
  // The top level's lateral alone feeds P4: changing the lowest tap leaves P4 alone.
  torch::manual_seed(8);
  std::vector<torch::Tensor> taps = {torch::randn({1, 24, 8, 8}), torch::randn({1, 40, 4, 4}),
                                     torch::randn({1, 112, 2, 2})};
  const auto a = fpn->forward(taps);
  taps[0] = torch::randn({1, 24, 8, 8});
  const auto b = fpn->forward(taps);
  EXPECT_TRUE(torch::equal(a[2], b[2]));
  EXPECT_FALSE(torch::equal(a[0], b[0]));
}

TEST(RcnnParts, TruncatedMobileNetV3TapsMatchTheFullOne) {
  torch::manual_seed(9);
  MobileNetV3 full("large", 1.0);
  MobileNetV3 trunc("large", 1.0, 16);
  // The truncated backbone is the full one's prefix, name for name.
  const auto fp = full->named_parameters(), tp = trunc->named_parameters();
  EXPECT_LT(tp.size(), fp.size());
  for (const auto& p : tp) {
    ASSERT_NE(fp.find(p.key()), nullptr) << p.key();
    torch::NoGradGuard ng;
    fp[p.key()].copy_(p.value());
  }
  EXPECT_EQ(trunc->named_parameters().find("conv_last.conv.weight"), nullptr);
  full->eval(), trunc->eval();
  const auto x = torch::randn({1, 3, 64, 64});
  const auto t = trunc->forward_maps(x, {2, 3, 4});
  const auto s = full->forward_strides(x);  // stride 8, 16, 32
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].sizes(), (std::vector<int64_t>{1, 24, 16, 16}));
  EXPECT_TRUE(torch::allclose(t[1], s[0]));
  EXPECT_TRUE(torch::allclose(t[2], s[1]));
  EXPECT_EQ(trunc->map_channels(2), 24);
  EXPECT_EQ(trunc->map_channels(4), 112);
  EXPECT_THROW(trunc->forward_maps(x, {3, 6}), std::exception);
  EXPECT_THROW(full->forward_maps(x, {4, 3}), std::exception);
}
