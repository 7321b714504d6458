#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

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
  const auto expected =
      nlohmann::json::parse(testutil::read_text(testutil::golden_path("coco_eval/" + name + "_expected.json")));
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
  EXPECT_NEAR(r.stats.values[3], 1.0, kExact);  // APs: area 400 < 32^2
  EXPECT_EQ(r.stats.values[4], -1.0);           // APm: no medium GT at all
  EXPECT_EQ(r.stats.values[5], -1.0);
  EXPECT_EQ(r.per_category_ap[1], -1.0);  // category 5 has no GT
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
  const auto r =
      testutil::run_cli("eval --gt " + testutil::golden_path("coco_eval/public_a_gt.json") + " --dets " +
                        testutil::golden_path("coco_eval/public_a_dets.json") + " --out " + d.file("s.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.108"),
            std::string::npos)
      << r.output;
  const auto j = nlohmann::json::parse(testutil::read_text(d.file("s.json")));
  EXPECT_EQ(j.size(), 12u);
  EXPECT_NEAR(j["AR100"].get<double>(), 0.3306296441981047, kGoldenTol);
}

TEST(CocoEval, PerCategoryApAndAp50ByHand) {
  // Category 1: the shifted box of the test above (IoU 0.818): AP 0.7, AP50 1.
  // Category 5 gains a GT on image 2 that nothing detects: AP 0, AP50 0.
  CocoFile gt = tiny_gt();
  CocoAnnotation b = gt.annotations[0];
  b.id = 2, b.image_id = 2, b.category_id = 5;
  gt.annotations.push_back(b);
  CocoAnnotation crowd = b;  // crowd GT count as ignored, not as boxes
  crowd.id = 3, crowd.iscrowd = true;
  gt.annotations.push_back(crowd);
  const auto r = evaluate_coco(gt, {det(1, 1, 12, 10, 20, 20, 0.9)});
  ASSERT_EQ(r.category_ids, (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(r.category_names, (std::vector<std::string>{"one", "five"}));
  EXPECT_NEAR(r.per_category_ap[0], 0.7, kExact);
  EXPECT_NEAR(r.per_category_ap50[0], 1.0, kExact);
  EXPECT_NEAR(r.per_category_ap[1], 0.0, kExact);
  EXPECT_NEAR(r.per_category_ap50[1], 0.0, kExact);
  EXPECT_EQ(r.per_category_gt, (std::vector<int64_t>{1, 1}));
  EXPECT_NEAR(r.stats.ap(), 0.35, kExact);  // the mean of the two
  const std::string t = r.classwise_table();
  EXPECT_NE(t.find("one        70.00  100.00         1"), std::string::npos) << t;
  EXPECT_NE(t.find("five        0.00    0.00         1"), std::string::npos) << t;
  EXPECT_NE(t.find("(mean)     35.00   50.00"), std::string::npos) << t;
  const auto j = r.classwise_json();
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["name"], "five");
  EXPECT_NEAR(j[0]["AP"].get<double>(), 0.7, kExact);
}

TEST(CocoEval, PerCategoryApAveragesToTheGoldenAp) {
  const CocoFile gt = read_coco_instances(testutil::golden_path("coco_eval/public_a_gt.json"));
  const auto r = evaluate_coco(gt, read_coco_results(testutil::golden_path("coco_eval/public_a_dets.json")));
  const auto expected =
      nlohmann::json::parse(testutil::read_text(testutil::golden_path("coco_eval/public_a_expected.json")));
  double ap = 0, ap50 = 0;
  int n = 0;
  int64_t boxes = 0, non_crowd = 0;
  for (size_t k = 0; k < r.category_ids.size(); ++k) {
    boxes += r.per_category_gt[k];
    if (r.per_category_ap[k] < 0) continue;
    ap += r.per_category_ap[k], ap50 += r.per_category_ap50[k], ++n;
  }
  for (const auto& a : gt.annotations) non_crowd += a.iscrowd ? 0 : 1;
  ASSERT_GT(n, 1);
  EXPECT_NEAR(ap / n, expected["AP"].get<double>(), kGoldenTol);
  EXPECT_NEAR(ap50 / n, expected["AP50"].get<double>(), kGoldenTol);
  EXPECT_EQ(boxes, non_crowd);
}

TEST(CocoEval, CliComparesModelsPerCategory) {
  // Two results files: the golden detections, and the same without category
  // `drop`'s, whose AP must fall to 0 while every other category's stays.
  testutil::TempDir d;
  const std::string gt = testutil::golden_path("coco_eval/public_a_gt.json");
  const std::string dets = testutil::golden_path("coco_eval/public_a_dets.json");
  auto all = nlohmann::json::parse(testutil::read_text(dets));
  const int64_t drop = all[0]["category_id"].get<int64_t>();
  nlohmann::json kept = nlohmann::json::array();
  for (const auto& x : all)
    if (x["category_id"].get<int64_t>() != drop) kept.push_back(x);
  testutil::write_text(d.file("fewer.json"), kept.dump());
  const auto r = testutil::run_cli("eval --gt " + gt + " --dets " + dets + " --dets " + d.file("fewer.json") +
                                   " --classwise --out " + d.file("s.json") + " --plot " + d.file("p.png"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("[1] coco_eval/public_a_dets.json"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[2]-[1]"), std::string::npos) << r.output;
  const auto j = nlohmann::json::parse(testutil::read_text(d.file("s.json")));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_NEAR(j[0]["AP"].get<double>(), 0.10777535510378679, kGoldenTol);
  const auto& a = j[0]["per_class"];
  const auto& b = j[1]["per_class"];
  ASSERT_EQ(a.size(), b.size());
  int dropped = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k]["id"].get<int64_t>() == drop) {
      EXPECT_GT(a[k]["AP"].get<double>(), 0.0);
      EXPECT_EQ(b[k]["AP"].get<double>(), 0.0);
      ++dropped;
    } else {
      EXPECT_NEAR(a[k]["AP"].get<double>(), b[k]["AP"].get<double>(), kExact) << a[k]["name"];
    }
  }
  EXPECT_EQ(dropped, 1);
  // The delta column of the dropped category is minus its AP.
  char delta[32];
  for (size_t k = 0; k < a.size(); ++k)
    if (a[k]["id"].get<int64_t>() == drop)
      std::snprintf(delta, sizeof(delta), "%+8.2f", -100 * a[k]["AP"].get<double>());
  EXPECT_NE(r.output.find(delta), std::string::npos) << delta << "\n" << r.output;
  // One bar row per category plus the mean, two bars each.
  const cv::Mat png = cv::imread(d.file("p.png"));
  ASSERT_FALSE(png.empty());
  EXPECT_EQ(png.cols, 900);
  EXPECT_GE(png.rows, static_cast<int>(a.size() + 1) * 34);
  // Mixed modes are usage errors.
  EXPECT_EQ(testutil::run_cli("eval --gt " + gt + " --dets " + dets + " -w x.pt").code, 2);
}
