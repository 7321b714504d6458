#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/test_util.h"
#include "train/data/coco_json.h"
#include "train/eval/coco_eval.h"
#include "train/util/error.h"

using namespace compress;

namespace {
constexpr double kGoldenTol = 1e-4;  // the bound against pycocotools
constexpr double kExact = 1e-12;

CocoFile tiny_gt() {
  CocoFile gt;
  gt.path = "<tiny>";
  gt.images = {{1, "a.jpg", 100, 100}, {2, "b.jpg", 100, 100}};
  gt.categories = {{1, "one"}, {5, "five"}};
  CocoAnnotation a;
  a.id = 1, a.image_id = 1, a.category_id = 1;
  a.bbox[0] = 10, a.bbox[1] = 10, a.bbox[2] = 20, a.bbox[3] = 20;
  a.area = 400;
  gt.annotations.push_back(a);
  return gt;
}

CocoDetection det(int64_t img, int64_t cat, double x, double y, double w, double h, double score) {
  CocoDetection d;
  d.image_id = img, d.category_id = cat, d.score = score;
  d.bbox[0] = x, d.bbox[1] = y, d.bbox[2] = w, d.bbox[3] = h;
  return d;
}
}  // namespace

class CocoEvalGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CocoEvalGolden, MatchesPycocotoolsWithin1e4) {
  const std::string name = GetParam();
  const CocoFile gt = read_coco_instances(testutil::golden_path("coco_eval/" + name + "_gt.json"));
  const auto dets = read_coco_results(testutil::golden_path("coco_eval/" + name + "_dets.json"));
  const auto expected = nlohmann::json::parse(testutil::read_text(testutil::golden_path("coco_eval/" + name + "_expected.json")));
  const CocoStats s = evaluate_coco(gt, dets).stats;
  for (size_t i = 0; i < s.values.size(); ++i) {
    const char* key = CocoStats::names()[i];
    ASSERT_TRUE(expected.contains(key)) << key;
    EXPECT_NEAR(s.values[i], expected[key].get<double>(), kGoldenTol) << name << " " << key;
  }
}

INSTANTIATE_TEST_SUITE_P(PublicCases, CocoEvalGolden, ::testing::Values("public_a", "public_b"));

TEST(CocoEval, PerfectDetectionScoresOne) {
  const auto r = evaluate_coco(tiny_gt(), {det(1, 1, 10, 10, 20, 20, 0.9)});
  EXPECT_NEAR(r.stats.ap(), 1.0, kExact);
  EXPECT_NEAR(r.stats.values[3], 1.0, kExact);   // APs: area 400 < 32^2
  EXPECT_EQ(r.stats.values[4], -1.0);            // APm: no medium GT at all
  EXPECT_EQ(r.stats.values[5], -1.0);
  EXPECT_EQ(r.per_category_ap[1], -1.0);         // category 5 has no GT
}

TEST(CocoEval, ShiftedBoxMatchesOnlyLowThresholds) {
  // IoU = (18*20) / (400 + 400 - 360) = 0.818: matched at .50 ... .80, i.e. 7 of 10 thresholds.
  const auto r = evaluate_coco(tiny_gt(), {det(1, 1, 12, 10, 20, 20, 0.9)});
  EXPECT_NEAR(r.stats.ap(), 0.7, kExact);
  EXPECT_NEAR(r.stats.ap50(), 1.0, kExact);
  EXPECT_NEAR(r.stats.values[2], 1.0, kExact);  // AP75
  EXPECT_NEAR(r.stats.values[8], 0.7, kExact);  // AR100
}

TEST(CocoEval, CrowdRegionsAreIgnoredNotPenalised) {
  CocoFile gt = tiny_gt();
  CocoAnnotation crowd;
  crowd.id = 2, crowd.image_id = 1, crowd.category_id = 1, crowd.iscrowd = true;
  crowd.bbox[0] = 50, crowd.bbox[1] = 50, crowd.bbox[2] = 40, crowd.bbox[3] = 40;
  crowd.area = 1600;
  gt.annotations.push_back(crowd);
  // A higher-scored detection inside the crowd region: IoU with a crowd is inter / det area = 1.
  const std::vector<CocoDetection> dets = {det(1, 1, 55, 55, 10, 10, 0.95), det(1, 1, 12, 10, 20, 20, 0.9)};
  EXPECT_NEAR(evaluate_coco(gt, dets).stats.ap(), 0.7, kExact);
  // The same detection without the crowd region is a false positive ranked first.
  const auto r = evaluate_coco(tiny_gt(), dets);
  EXPECT_LT(r.stats.ap(), 0.7 - 0.1);
}

TEST(CocoEval, MaxDetsLimitsRecall) {
  // 11 GT boxes in one image, detected perfectly, in ascending score order.
  CocoFile gt = tiny_gt();
  gt.annotations.clear();
  std::vector<CocoDetection> dets;
  for (int i = 0; i < 11; ++i) {
    CocoAnnotation a;
    a.id = i + 1, a.image_id = 1, a.category_id = 1;
    a.bbox[0] = i * 8, a.bbox[1] = 0, a.bbox[2] = 6, a.bbox[3] = 6;
    a.area = 36;
    gt.annotations.push_back(a);
    dets.push_back(det(1, 1, i * 8, 0, 6, 6, 0.5 + 0.01 * i));
  }
  const auto s = evaluate_coco(gt, dets).stats;
  EXPECT_NEAR(s.values[6], 1.0 / 11, kExact);   // AR1
  EXPECT_NEAR(s.values[7], 10.0 / 11, kExact);  // AR10
  EXPECT_NEAR(s.values[8], 1.0, kExact);        // AR100
}

TEST(CocoEval, DetectionOnUnknownImageIsAnError) {
  EXPECT_THROW(evaluate_coco(tiny_gt(), {det(99, 1, 0, 0, 1, 1, 0.5)}), compress::Error);
}

TEST(CocoEval, CliWritesTheTwelveStatistics) {
  testutil::TempDir d;
  const auto r = testutil::run_cli("eval --gt " + testutil::golden_path("coco_eval/public_a_gt.json") + " --dets " +
                                   testutil::golden_path("coco_eval/public_a_dets.json") + " --out " + d.file("s.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.108"),
            std::string::npos)
      << r.output;
  const auto j = nlohmann::json::parse(testutil::read_text(d.file("s.json")));
  EXPECT_EQ(j.size(), 12u);
  EXPECT_NEAR(j["AR100"].get<double>(), 0.3306296441981047, kGoldenTol);
}
