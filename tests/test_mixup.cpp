// MixupImage: the blend and the box weights by hand, the Beta draw's moments,
// and the box weights surviving the crop that follows it in the YOLOv3 chain.
#include <gtest/gtest.h>

#include <cmath>

#include "train/data/transforms/transforms.h"

using namespace compress;

namespace {
Sample flat(int W, int H, uint8_t v, std::vector<Box> boxes, std::vector<int64_t> labels) {
  Sample s;
  s.image = cv::Mat(H, W, CV_8UC3, cv::Scalar(v, v, v));
  s.boxes = std::move(boxes);
  s.labels = std::move(labels);
  s.orig_width = W, s.orig_height = H;
  return s;
}
}  // namespace

TEST(MixupImage, BlendsOnTheLargerCanvasAndWeighsBoxesByHand) {
  // a: 6 wide x 4 high of 100, b: 4 wide x 6 high of 200, factor 0.25.
  Sample a = flat(6, 4, 100, {{1, 1, 3, 3}}, {2});
  a.image_id = 7;
  const Sample b = flat(4, 6, 200, {{0, 2, 4, 6}, {1, 1, 2, 2}}, {5, 0});
  MixupImage::mix(a, b, 0.25f);
  ASSERT_EQ(a.image.cols, 6);
  ASSERT_EQ(a.image.rows, 6);
  ASSERT_EQ(a.image.type(), CV_8UC3);
  EXPECT_EQ(a.image.at<cv::Vec3b>(0, 0)[0], 175);  // both: 0.25 * 100 + 0.75 * 200
  EXPECT_EQ(a.image.at<cv::Vec3b>(0, 5)[1], 25);   // a only (x 5 >= b's width 4)
  EXPECT_EQ(a.image.at<cv::Vec3b>(5, 0)[2], 150);  // b only (y 5 >= a's height 4)
  EXPECT_EQ(a.image.at<cv::Vec3b>(5, 5)[0], 0);    // neither
  ASSERT_EQ(a.boxes.size(), 3u);
  EXPECT_EQ(a.labels, (std::vector<int64_t>{2, 5, 0}));
  EXPECT_EQ(a.boxes[1].y2, 6);  // the partner's boxes keep their coordinates (top-left)
  EXPECT_EQ(a.scores, (std::vector<float>{0.25f, 0.75f, 0.75f}));
  EXPECT_EQ(a.image_id, 7);

  // Mixing an already mixed sample multiplies its weights.
  Sample c = flat(2, 2, 0, {{0, 0, 1, 1}}, {1});
  MixupImage::mix(c, a, 0.5f);
  EXPECT_EQ(c.scores, (std::vector<float>{0.5f, 0.125f, 0.375f, 0.375f}));
  EXPECT_EQ(c.image.at<cv::Vec3b>(0, 0)[0], 88);  // 0.5 * 0 + 0.5 * 175 = 87.5, rounded to even
}

TEST(MixupImage, DrawsItsFactorFromBeta) {
  MixupImage t(1.5f, 1.5f);
  for (uint64_t seed = 0; seed < 5; ++seed) {
    Sample a = flat(8, 8, 100, {{1, 1, 3, 3}}, {2});
    Rng rng(seed), same(seed);
    const double f = same.beta(1.5, 1.5);
    t.apply(a, flat(8, 8, 0, {{2, 2, 5, 5}}, {1}), rng);
    ASSERT_EQ(a.scores.size(), 2u);
    EXPECT_FLOAT_EQ(a.scores[0], static_cast<float>(f));
    EXPECT_FLOAT_EQ(a.scores[1], static_cast<float>(1 - f));
    EXPECT_NEAR(a.image.at<cv::Vec3b>(4, 4)[0], 100 * f, 0.5);
  }
  // Without a partner (past mixup_epoch) the sample is untouched.
  Sample a = flat(8, 8, 100, {{1, 1, 3, 3}}, {2});
  Rng rng(0);
  t.apply(a, rng);
  EXPECT_TRUE(a.scores.empty());
  EXPECT_EQ(a.image.at<cv::Vec3b>(4, 4)[0], 100);
}

TEST(Rng, BetaHasTheRightMoments) {
  // Beta(a, b): mean a / (a + b), variance ab / ((a + b)^2 (a + b + 1)). The
  // (0.5, 0.5) case goes through the shape < 1 branch of the gamma sampler.
  for (auto [a, b] : {std::pair{1.5, 1.5}, std::pair{2.0, 5.0}, std::pair{0.5, 0.5}}) {
    Rng rng(11);
    const int n = 40000;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; ++i) {
      const double x = rng.beta(a, b);
      ASSERT_GE(x, 0.0);
      ASSERT_LE(x, 1.0);
      s += x, s2 += x * x;
    }
    const double mean = s / n, var = s2 / n - mean * mean;
    const double m = a / (a + b), v = a * b / ((a + b) * (a + b) * (a + b + 1));
    EXPECT_NEAR(mean, m, 4 * std::sqrt(v / n)) << a << "," << b;
    EXPECT_NEAR(var, v, 0.03 * v) << a << "," << b;
  }
}

TEST(MixupImage, CropKeepsEachBoxWithItsWeight) {
  // Labels name the boxes; after any crop each surviving box still carries its score.
  CropImage crop({{1, 50, 0.3f, 1.0f, 0.5f, 2.0f, 0.0f, 0.0f}}, false, false);
  int dropped = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    Sample s = flat(60, 40, 50, {{2, 2, 10, 10}, {40, 25, 58, 38}, {20, 10, 40, 30}}, {0, 1, 2});
    s.scores = {0.1f, 0.2f, 0.3f};
    Rng rng(seed);
    crop.apply(s, rng);
    ASSERT_EQ(s.scores.size(), s.boxes.size());
    for (size_t k = 0; k < s.labels.size(); ++k) EXPECT_FLOAT_EQ(s.scores[k], 0.1f * (s.labels[k] + 1));
    dropped += 3 - static_cast<int>(s.boxes.size());
  }
  EXPECT_GT(dropped, 0);
}

TEST(MixupImage, FactoryChecksItsParameters) {
  EXPECT_STREQ(make_transform(YAML::Load("{type: MixupImage, alpha: 1.5, beta: 1.5}"))->name(), "MixupImage");
  EXPECT_THROW(make_transform(YAML::Load("{type: MixupImage, alpha: 0, beta: 1.5}")), std::exception);
}
