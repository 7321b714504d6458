// Priors, box coding, matching, multibox loss and NMS against hand-computed values
// and a naive reference.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/test_util.h"
#include "train/config/config.h"
#include "train/models/nms.h"
#include "train/models/ssd/box_coder.h"
#include "train/models/ssd/multibox_loss.h"
#include "train/models/ssd/prior_box.h"
#include "train/models/ssdlite.h"

using namespace compress;

namespace {
constexpr double kTol = 1e-5;

PriorBoxOptions reference_ssdlite_priors() {
  PriorBoxOptions o;
  o.aspect_ratios = {{2}, {2, 3}, {2, 3}, {2, 3}, {2, 3}, {2, 3}};
  o.base_size = 320;
  o.steps = {16, 32, 64, 107, 160, 320};
  o.clip = false;
  return o;
}
}  // namespace

TEST(PriorBox, MinMaxSizesMatchTheReferenceFormula) {
  const auto [mins, maxs] = ssd_min_max_sizes(reference_ssdlite_priors(), 6);
  // step = floor((95 - 20) / 4) = 18: ratios 20, 38, 56, 74, 92 of 320, after 10% / 20%.
  const std::vector<double> e_min = {32, 64, 121.6, 179.2, 236.8, 294.4};
  const std::vector<double> e_max = {64, 121.6, 179.2, 236.8, 294.4, 352};
  ASSERT_EQ(mins.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_NEAR(mins[i], e_min[i], 1e-9);
    EXPECT_NEAR(maxs[i], e_max[i], 1e-9);
  }
}

// size_rule linspace is torchvision's DefaultBoxGenerator([[2, 3]] * 6, min_ratio=0.2,
// max_ratio=0.95), the priors of ssdlite320_mobilenet_v3_large. Golden rows from
// torchvision 0.14 (Debian python3-torchvision), xyxy pixels at 320 px, for the
// cell (f / 2, f / 2) of each f x f map, the priors inside the image (torchvision
// clamps only w and h, compress clips corners: they agree there):
//   g(ImageList(zeros(1, 3, 320, 320), [(320, 320)]), [zeros(1, 1, f, f) for f in sizes])[0]
// torchvision orders a cell's priors s_k, s', ars; the reference s_k, ars, s': compared as sets.
TEST(PriorBox, LinspaceRuleGivesTorchvisionsSsdlitePriors) {
  PriorBoxOptions o;
  o.aspect_ratios = {{2, 3}, {2, 3}, {2, 3}, {2, 3}, {2, 3}, {2, 3}};
  o.base_size = 320;
  o.size_rule = "linspace";
  const auto [mins, maxs] = ssd_min_max_sizes(o, 6);
  // Hand-computed: 20 + 15 k percent of 320, partner the next, 100% last.
  EXPECT_EQ(mins, (std::vector<double>{64, 112, 160, 208, 256, 304}));
  EXPECT_EQ(maxs, (std::vector<double>{112, 160, 208, 256, 304, 320}));
  const std::vector<int64_t> sizes = {20, 10, 5, 3, 2, 1};
  std::vector<std::pair<int64_t, int64_t>> fmaps;
  for (int64_t f : sizes) fmaps.push_back({f, f});
  const auto p = make_priors(o, fmaps, 320, 320);
  ASSERT_EQ(p.size(0), 3234);
  const std::vector<std::vector<std::array<double, 4>>> golden = {{{136, 136, 200, 200},
                                                                   {125.667969, 125.667969, 210.332016, 210.332016},
                                                                   {122.745148, 145.372574, 213.254837, 190.627411},
                                                                   {145.372574, 122.745148, 190.627411, 213.254837},
                                                                   {112.574371, 149.524780, 223.425613, 186.475204},
                                                                   {149.524780, 112.574371, 186.475204, 223.425613}},
                                                                  {{120, 120, 232, 232},
                                                                   {109.067200, 109.067200, 242.932816, 242.932816},
                                                                   {96.804047, 136.402023, 255.195953, 215.597992},
                                                                   {136.402023, 96.804047, 215.597992, 255.195953},
                                                                   {79.005157, 143.668381, 272.994843, 208.331619},
                                                                   {143.668381, 79.005157, 208.331619, 272.994843}},
                                                                  {{80, 80, 240, 240},
                                                                   {68.785965, 68.785965, 251.214020, 251.214020},
                                                                   {46.862915, 103.431458, 273.137085, 216.568542},
                                                                   {103.431458, 46.862915, 216.568542, 273.137085},
                                                                   {21.435938, 113.811981, 298.564087, 206.188019},
                                                                   {113.811981, 21.435938, 206.188019, 298.564087}},
                                                                  {{56.000004, 56.000004, 264, 264},
                                                                   {44.622353, 44.622353, 275.377655, 275.377655},
                                                                   {12.921791, 86.460892, 307.078217, 233.539108},
                                                                   {86.460892, 12.921791, 233.539108, 307.078217},
                                                                   {0, 99.955582, 320, 220.044418},
                                                                   {99.955582, 0, 220.044418, 320}},
                                                                  {},
                                                                  {{8.000002, 8.000002, 312, 312},
                                                                   {4.051294, 4.051294, 315.948730, 315.948730},
                                                                   {0, 52.519768, 320, 267.480225},
                                                                   {52.519768, 0, 267.480225, 320},
                                                                   {0, 72.242752, 320, 247.757248},
                                                                   {72.242752, 0, 247.757248, 320}}};
  int64_t offset = 0;
  for (size_t m = 0; m < sizes.size(); ++m) {
    const int64_t f = sizes[m], cell = offset + ((f / 2) * f + f / 2) * 6;
    for (const auto& g : golden[m]) {
      double best = 1e9;  // the nearest of the cell's six priors, max-abs over coordinates, pixels
      for (int64_t k = 0; k < 6; ++k) {
        double d = 0;
        for (int c = 0; c < 4; ++c) d = std::max(d, std::fabs(p[cell + k][c].item<double>() * 320 - g[c]));
        best = std::min(best, d);
      }
      EXPECT_LT(best, 1e-3) << "map " << m << " golden box " << g[0] << " " << g[1] << " " << g[2] << " " << g[3];
    }
    offset += f * f * 6;
  }
  o.size_rule = "caffe";
  EXPECT_THROW(ssd_min_max_sizes(o, 6), std::exception);
}

TEST(PriorBox, CountsAndHandComputedBoxes) {
  const auto o = reference_ssdlite_priors();
  EXPECT_EQ(expand_aspect_ratios({2, 3}, true), (std::vector<double>{1, 2, 0.5, 3, 1.0 / 3}));
  EXPECT_EQ(priors_per_location(o), (std::vector<int64_t>{4, 6, 6, 6, 6, 6}));
  const auto p = make_priors(o, {{20, 20}, {10, 10}, {5, 5}, {3, 3}, {2, 2}, {1, 1}}, 320, 320);
  ASSERT_EQ(p.size(0), 20 * 20 * 4 + 100 * 6 + 25 * 6 + 9 * 6 + 4 * 6 + 6);  // 2434
  auto expect_row = [&](int64_t i, std::array<double, 4> v) {
    for (int k = 0; k < 4; ++k) EXPECT_NEAR(p[i][k].item<double>(), v[k], kTol) << "prior " << i << " coord " << k;
  };
  // Map 0, cell (0, 0): centre (8, 8); min size 32.
  expect_row(0, {-8 / 320.0, -8 / 320.0, 24 / 320.0, 24 / 320.0});          // ar 1
  const double hw = 32 * std::sqrt(2.0) / 2, hh = 32 / std::sqrt(2.0) / 2;  // ar 2
  expect_row(1, {(8 - hw) / 320, (8 - hh) / 320, (8 + hw) / 320, (8 + hh) / 320});
  expect_row(2, {(8 - hh) / 320, (8 - hw) / 320, (8 + hh) / 320, (8 + hw) / 320});  // ar 1/2
  const double s = std::sqrt(32.0 * 64.0) / 2;                                      // sqrt(min * max)
  expect_row(3, {(8 - s) / 320, (8 - s) / 320, (8 + s) / 320, (8 + s) / 320});
  // Map 0, cell (row 0, col 1): centre x = 24.
  expect_row(4, {8 / 320.0, -8 / 320.0, 40 / 320.0, 24 / 320.0});
  // Map 3 (3x3, step 107), first prior: centre 53.5, min size 179.2.
  const int64_t first_map3 = 1600 + 600 + 150;
  expect_row(first_map3, {(53.5 - 89.6) / 320, (53.5 - 89.6) / 320, (53.5 + 89.6) / 320, (53.5 + 89.6) / 320});
}

// Explicit sizes (the reference's min_sizes / max_sizes), here torchvision's
// SSDLite320 scales 0.2 + 0.15 k of 320 px: they replace the ratio formula.
TEST(PriorBox, ExplicitMinMaxSizesReplaceTheRatios) {
  auto o = reference_ssdlite_priors();
  o.aspect_ratios = {{2, 3}, {2, 3}, {2, 3}, {2, 3}, {2, 3}, {2, 3}};
  o.min_sizes = {64, 112, 160, 208, 256, 304};
  o.max_sizes = {112, 160, 208, 256, 304, 320};
  const auto [mins, maxs] = ssd_min_max_sizes(o, 6);
  EXPECT_EQ(mins, o.min_sizes);
  EXPECT_EQ(maxs, o.max_sizes);
  const auto p = make_priors(o, {{20, 20}, {10, 10}, {5, 5}, {3, 3}, {2, 2}, {1, 1}}, 320, 320);
  ASSERT_EQ(p.size(0), (400 + 100 + 25 + 9 + 4 + 1) * 6);  // 3234, torchvision's count at 320 px
  // Map 0, cell (0, 0), centre (8, 8): the 64 px square, then the sqrt(64 * 112) square after ars 2, 1/2, 3, 1/3.
  EXPECT_NEAR(p[0][2].item<double>(), (8 + 32) / 320.0, kTol);
  const double s = std::sqrt(64.0 * 112.0) / 2;
  EXPECT_NEAR(p[5][2].item<double>(), (8 + s) / 320.0, kTol);
  // The last map's 1x1 cell: centre 160, the 304 px square.
  EXPECT_NEAR(p[3234 - 6][0].item<double>(), (160 - 152) / 320.0, kTol);
  o.max_sizes.pop_back();
  EXPECT_THROW(ssd_min_max_sizes(o, 6), std::exception);
  o.max_sizes = {112, 160, 208, 256, 304, 320};
  o.min_sizes[2] = 300;  // above its max_size
  EXPECT_THROW(ssd_min_max_sizes(o, 6), std::exception);
}

TEST(PriorBox, ClipKeepsPriorsInsideTheImage) {
  auto o = reference_ssdlite_priors();
  o.clip = true;
  const auto p = make_priors(o, {{20, 20}, {10, 10}, {5, 5}, {3, 3}, {2, 2}, {1, 1}}, 320, 320);
  EXPECT_GE(p.min().item<float>(), 0.f);
  EXPECT_LE(p.max().item<float>(), 1.f);
  EXPECT_NEAR(p[0][2].item<double>(), 24 / 320.0, kTol);
  EXPECT_EQ(p[0][0].item<float>(), 0.f);
}

TEST(BoxCoder, HandComputedEncoding) {
  const auto prior = torch::tensor({0.1f, 0.1f, 0.3f, 0.3f});  // centre (.2, .2), size .2
  const auto box = torch::tensor({0.15f, 0.1f, 0.35f, 0.5f});  // centre (.25, .3), size (.2, .4)
  const auto d = encode_boxes(box, prior);
  EXPECT_NEAR(d[0].item<double>(), 0.05 / 0.2 / 0.1, kTol);
  EXPECT_NEAR(d[1].item<double>(), 0.1 / 0.2 / 0.1, kTol);
  EXPECT_NEAR(d[2].item<double>(), 0.0, kTol);
  EXPECT_NEAR(d[3].item<double>(), std::log(2.0) / 0.2, kTol);
}

TEST(BoxCoder, DecodeInvertsEncode) {
  torch::manual_seed(0);
  const auto xy = torch::rand({500, 2}) * 0.7;
  const auto wh = torch::rand({500, 2}) * 0.3 + 0.01;
  const auto boxes = torch::cat({xy, xy + wh}, 1);
  const auto pxy = torch::rand({500, 2}) * 0.7;
  const auto priors = torch::cat({pxy, pxy + torch::rand({500, 2}) * 0.3 + 0.02}, 1);
  const auto back = decode_boxes(encode_boxes(boxes, priors), priors);
  EXPECT_LT((back - boxes).abs().max().item<double>(), kTol);
}

namespace {
// Four quadrant priors of the unit square.
torch::Tensor quadrants() {
  return torch::tensor({0.f, 0.f, .5f, .5f, .5f, 0.f, 1.f, .5f, 0.f, .5f, .5f, 1.f, .5f, .5f, 1.f, 1.f}).view({4, 4});
}
}  // namespace

TEST(MatchPriors, BipartiteThenThreshold) {
  // GT 0 overlaps prior 0 with IoU 0.36 < 0.5 but still gets it (bipartite step);
  // GT 1 covers priors 1 and 3 at IoU 0.5 each: one bipartite, one by threshold.
  const auto gt = torch::tensor({0.f, 0.f, .3f, .3f, .5f, 0.f, 1.f, 1.f}).view({2, 4});
  const auto m = match_priors(gt, quadrants(), 0.5);
  EXPECT_EQ(m[0].item<int64_t>(), 0);
  EXPECT_EQ(m[1].item<int64_t>(), 1);
  EXPECT_EQ(m[2].item<int64_t>(), -1);
  EXPECT_EQ(m[3].item<int64_t>(), 1);
  EXPECT_EQ(match_priors(torch::zeros({0, 4}), quadrants(), 0.5).eq(-1).all().item<bool>(), true);
}

TEST(MultiBoxLoss, HandComputedValues) {
  // One image, one GT exactly on prior 0 with label 1 (class index 2 with background 0).
  const auto gt = torch::tensor({0.f, 0.f, .5f, .5f}).view({1, 1, 4});
  const auto labels = torch::tensor({1}, torch::kInt64).view({1, 1});
  const auto n = torch::tensor({1}, torch::kInt64);
  auto loc = torch::zeros({1, 4, 4});
  loc[0][0] = torch::tensor({1.f, 0.f, 0.f, 0.5f});  // smooth-L1: (1 - 0.5) + 0.5 * 0.5^2 = 0.625
  auto conf = torch::zeros({1, 4, 3});
  conf[0][1] = torch::tensor({2.f, 0.f, 0.f});  // CE vs background: log(1 + 2 e^-2)
  conf[0][3] = torch::tensor({0.f, 1.f, 0.f});  // CE vs background: log(2 + e)
  const double log3 = std::log(3.0), ce1 = std::log(1 + 2 * std::exp(-2.0)), ce3 = std::log(2 + std::exp(1.0));
  MultiBoxLossOptions o;
  auto l = multibox_loss(loc, conf, quadrants(), gt, labels, n, o);
  EXPECT_EQ(l.num_pos, 1);
  EXPECT_NEAR(l.loc.item<double>(), 0.625, kTol);
  EXPECT_NEAR(l.conf.item<double>(), log3 + ce1 + log3 + ce3, kTol);  // 3:1 takes all three negatives
  o.neg_pos_ratio = 1.0;                                              // only the hardest negative (prior 3)
  l = multibox_loss(loc, conf, quadrants(), gt, labels, n, o);
  EXPECT_NEAR(l.conf.item<double>(), log3 + ce3, kTol);
}

TEST(MultiBoxLoss, GradientsFlowToPredictions) {
  const auto gt = torch::tensor({0.f, 0.f, .5f, .5f}).view({1, 1, 4});
  auto loc = torch::zeros({1, 4, 4}, torch::requires_grad());
  auto conf = torch::zeros({1, 4, 3}, torch::requires_grad());
  const auto l = multibox_loss(loc, conf, quadrants(), gt, torch::tensor({0}, torch::kInt64).view({1, 1}),
                               torch::tensor({1}, torch::kInt64), {});
  (l.loc + l.conf).backward();
  EXPECT_GT(conf.grad().abs().sum().item<double>(), 0);
}

namespace {
// Naive greedy NMS: sort by score (ties: lower index first), keep if IoU <= t with all kept.
std::vector<int64_t> naive_nms(const std::vector<std::array<double, 4>>& b, const std::vector<double>& s, double t) {
  std::vector<int64_t> order(b.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return s[x] > s[y]; });
  auto iou = [&](int64_t i, int64_t j) {
    const double iw = std::max(0.0, std::min(b[i][2], b[j][2]) - std::max(b[i][0], b[j][0]));
    const double ih = std::max(0.0, std::min(b[i][3], b[j][3]) - std::max(b[i][1], b[j][1]));
    const double inter = iw * ih;
    const double u = (b[i][2] - b[i][0]) * (b[i][3] - b[i][1]) + (b[j][2] - b[j][0]) * (b[j][3] - b[j][1]) - inter;
    return u > 0 ? inter / u : 0.0;
  };
  std::vector<int64_t> keep;
  for (int64_t i : order) {
    bool ok = true;
    for (int64_t k : keep) ok = ok && iou(i, k) <= t;
    if (ok) keep.push_back(i);
  }
  return keep;
}
}  // namespace

TEST(Nms, MatchesNaiveReferenceIncludingTies) {
  torch::manual_seed(3);
  for (int trial = 0; trial < 20; ++trial) {
    const int n = 5 + trial * 7;
    const auto xy = torch::rand({n, 2}) * 50;
    const auto boxes = torch::cat({xy, xy + torch::rand({n, 2}) * 30 + 1}, 1);
    // Scores from a small set so that ties are common.
    const auto scores = (torch::randint(0, 5, {n}).to(torch::kFloat32) / 4.0f);
    std::vector<std::array<double, 4>> b(n);
    std::vector<double> s(n);
    for (int i = 0; i < n; ++i) {
      for (int k = 0; k < 4; ++k) b[i][k] = boxes[i][k].item<float>();
      s[i] = scores[i].item<float>();
    }
    const auto keep = nms(boxes, scores, 0.4);
    const auto expected = naive_nms(b, s, 0.4);
    ASSERT_EQ(keep.size(0), static_cast<int64_t>(expected.size())) << "trial " << trial;
    for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(keep[i].item<int64_t>(), expected[i]);
    // max_keep: the first ones of the same list.
    const auto first = nms(boxes, scores, 0.4, 3);
    ASSERT_EQ(first.size(0), std::min<int64_t>(3, keep.size(0)));
    EXPECT_TRUE(torch::equal(first, keep.slice(0, 0, first.size(0))));
  }
}

TEST(Nms, EmptyInputAndIdenticalBoxes) {
  EXPECT_EQ(nms(torch::zeros({0, 4}), torch::zeros({0}), 0.5).numel(), 0);
  const auto same = torch::tensor({0.f, 0.f, 10.f, 10.f}).repeat({3, 1});
  const auto keep = nms(same, torch::tensor({0.5f, 0.5f, 0.5f}), 0.5);
  ASSERT_EQ(keep.numel(), 1);
  EXPECT_EQ(keep[0].item<int64_t>(), 0);  // a tie keeps the lowest index
  EXPECT_THROW(nms(torch::zeros({3, 3}), torch::zeros({3}), 0.5), c10::Error);
}

TEST(PriorBox, RecipesSizePriorsForTheirOwnInput) {
  // The fashion recipes run at 192 px on top of the COCO recipes' 320: their
  // priors must follow their own EvalReader size, not inherit 320 (which once
  // slipped through, sizing every prior for a 320 px image).
  //
  // Which sizes, by hand. The fashion recipes use the SSD paper's eq. 4
  // (linspace, as torchvision): 20 + 15 k percent of 192 px, partner the next,
  // 100% last, with [2, 3] on every map (6 priors per cell). The COCO recipes
  // keep the reference's rule: a 10% / 20% first map, then 20 + 18 k percent
  // (step floor(75 / 4) = 18), partner + 18, and [2] alone on the first map.
  for (const char* r :
       {"configs/fashion/ssdlite_mobilenet_v3_small.yml", "configs/fashion/ssdlite_mobilenet_v3_large.yml"}) {
    // Their readers resize to 192 px.
    const auto o = ssd_options_from_config(load_config(testutil::source_path(r))).prior;
    EXPECT_EQ(o.base_size, 192.0) << r;
    const auto [mins, maxs] = ssd_min_max_sizes(o, 6);
    const std::vector<double> want_min = {38.4, 67.2, 96.0, 124.8, 153.6, 182.4};
    const std::vector<double> want_max = {67.2, 96.0, 124.8, 153.6, 182.4, 192.0};
    ASSERT_EQ(mins.size(), 6u) << r;
    ASSERT_EQ(maxs.size(), 6u) << r;
    for (size_t k = 0; k < 6; ++k) {
      EXPECT_NEAR(mins[k], want_min[k], 1e-6) << r << " map " << k;
      EXPECT_NEAR(maxs[k], want_max[k], 1e-6) << r << " map " << k;
      EXPECT_EQ(o.aspect_ratios.at(k), (std::vector<double>{2, 3})) << r << " map " << k;
    }
  }
  for (const char* r : {"configs/ssdlite_mobilenet_v3_small.yml", "configs/ssdlite_mobilenet_v3_large.yml"}) {
    const auto o = ssd_options_from_config(load_config(testutil::source_path(r))).prior;
    EXPECT_EQ(o.base_size, 320.0) << r;
    const auto [mins, maxs] = ssd_min_max_sizes(o, 6);
    const std::vector<double> want_min = {32.0, 64.0, 121.6, 179.2, 236.8, 294.4};
    const std::vector<double> want_max = {64.0, 121.6, 179.2, 236.8, 294.4, 352.0};
    ASSERT_EQ(mins.size(), 6u) << r;
    ASSERT_EQ(maxs.size(), 6u) << r;
    for (size_t k = 0; k < 6; ++k) {
      EXPECT_NEAR(mins[k], want_min[k], 1e-6) << r << " map " << k;
      EXPECT_NEAR(maxs[k], want_max[k], 1e-6) << r << " map " << k;
    }
    EXPECT_EQ(o.aspect_ratios.at(0), (std::vector<double>{2})) << r;
  }
}
