// Every transform must keep boxes consistent with pixels: a pure red rectangle
// is drawn where the box is, and after the transform the red pixels' bounding
// rectangle must coincide with the transformed box.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "train/data/transforms/transforms.h"

using namespace compress;

namespace {
constexpr float kExactPx = 0.0f;    // integer shifts and flips move pixels exactly
constexpr float kResizePx = 1.01f;  // bilinear resampling blurs an edge by at most a pixel

Sample red_box_sample(int W = 60, int H = 40, Box b = {10, 5, 20, 15}) {
  Sample s;
  s.image = cv::Mat(H, W, CV_8UC3, cv::Scalar(100, 100, 100));
  s.image(cv::Rect(static_cast<int>(b.x1), static_cast<int>(b.y1), static_cast<int>(b.width()),
                   static_cast<int>(b.height())))
      .setTo(cv::Scalar(255, 0, 0));  // RGB red
  s.boxes = {b};
  s.labels = {3};
  s.orig_width = W, s.orig_height = H;
  return s;
}

// Bounding rectangle (continuous coords) of pixels that are mostly red.
Box red_extent(const cv::Mat& rgb) {
  int x1 = rgb.cols, y1 = rgb.rows, x2 = -1, y2 = -1;
  for (int y = 0; y < rgb.rows; ++y)
    for (int x = 0; x < rgb.cols; ++x) {
      const auto p = rgb.at<cv::Vec3b>(y, x);
      if (p[0] > 178 && p[1] < 50 && p[2] < 50) {
        x1 = std::min(x1, x), y1 = std::min(y1, y), x2 = std::max(x2, x), y2 = std::max(y2, y);
      }
    }
  return {static_cast<float>(x1), static_cast<float>(y1), static_cast<float>(x2 + 1), static_cast<float>(y2 + 1)};
}

void expect_box_near(const Box& a, const Box& b, float tol) {
  EXPECT_NEAR(a.x1, b.x1, tol);
  EXPECT_NEAR(a.y1, b.y1, tol);
  EXPECT_NEAR(a.x2, b.x2, tol);
  EXPECT_NEAR(a.y2, b.y2, tol);
}
}  // namespace

TEST(ExpandImage, ShiftsBoxesWithThePixels) {
  ExpandImage t(4.0f, 1.0f, {123.675f, 116.28f, 103.53f});
  for (uint64_t seed = 0; seed < 10; ++seed) {
    Sample s = red_box_sample();
    Rng rng(seed);
    t.apply(s, rng);
    ASSERT_GE(s.image.cols, 60);
    expect_box_near(red_extent(s.image), s.boxes[0], kExactPx);
    // The canvas is filled with the configured mean.
    const auto corner = s.image.at<cv::Vec3b>(0, 0);
    if (s.boxes[0].x1 > 10 || s.boxes[0].y1 > 5) EXPECT_EQ(corner[0], 124);  // (0, 0) is canvas
  }
}

TEST(CropImage, KeepsOnlyBoxesCentredInsideAndClipsThem) {
  CropImage t({{1, 50, 0.3f, 1.0f, 0.5f, 2.0f, 0.0f, 0.0f}}, false, /*avoid_no_bbox=*/false);
  int kept = 0, dropped = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    Sample s = red_box_sample();
    Rng rng(seed);
    t.apply(s, rng);
    if (s.boxes.empty()) {
      ++dropped;
      continue;
    }
    ++kept;
    ASSERT_EQ(s.labels, std::vector<int64_t>{3});
    expect_box_near(red_extent(s.image), s.boxes[0], kExactPx);
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(dropped, 0);  // crops that miss the box centre drop it
}

TEST(CropImage, OverlapConstraintIsHonoured) {
  // Only crops with IoU >= 0.7 against the box qualify; avoid_no_bbox keeps the box.
  CropImage t({{1, 50, 0.1f, 1.0f, 0.5f, 2.0f, 0.7f, 0.0f}}, false, true);
  int cropped = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Sample s = red_box_sample(60, 40, {10, 5, 40, 25});  // box area 600
    Rng rng(seed);
    t.apply(s, rng);
    ASSERT_EQ(s.boxes.size(), 1u);
    expect_box_near(red_extent(s.image), s.boxes[0], kExactPx);
    if (s.image.cols == 60 && s.image.rows == 40) continue;  // no qualifying crop found: image unchanged
    ++cropped;
    // IoU(crop, box) from the crop's size and the clipped box (box area 600); pixel
    // rounding of the crop corners costs a little against the 0.7 sampled in [0, 1] units.
    const double inter = s.boxes[0].area();
    const double iou = inter / (s.image.cols * s.image.rows + 600.0 - inter);
    EXPECT_GE(iou, 0.6) << seed;
  }
  EXPECT_GT(cropped, 0);
}

TEST(RandomFlipImage, MirrorsBoxes) {
  RandomFlipImage t(1.0f);
  Sample s = red_box_sample();
  Rng rng(0);
  t.apply(s, rng);
  expect_box_near(s.boxes[0], {40, 5, 50, 15}, 0);  // x -> W - x
  expect_box_near(red_extent(s.image), s.boxes[0], kExactPx);
}

TEST(ResizeImage, ScalesBoxesWithThePixels) {
  ResizeImage t(90, cv::INTER_LINEAR);
  Sample s = red_box_sample();
  Rng rng(0);
  t.apply(s, rng);
  ASSERT_EQ(s.image.cols, 90);
  ASSERT_EQ(s.image.rows, 90);
  expect_box_near(s.boxes[0], {15, 11.25f, 30, 33.75f}, 1e-4f);  // x * 1.5, y * 2.25
  expect_box_near(red_extent(s.image), s.boxes[0], kResizePx);
}

TEST(RandomShape, OneSizePerBatch) {
  RandomShape t({32, 64, 96}, false);
  for (uint64_t seed = 0; seed < 5; ++seed) {
    std::vector<Sample> batch = {red_box_sample(), red_box_sample(80, 50, {40, 10, 60, 30})};
    Rng rng(seed);
    t.apply(batch, rng);
    EXPECT_EQ(batch[0].image.size(), batch[1].image.size());
    const int size = batch[0].image.cols;
    EXPECT_TRUE(size == 32 || size == 64 || size == 96);
    for (auto& s : batch) expect_box_near(red_extent(s.image), s.boxes[0], kResizePx);
  }
}

TEST(DistortImage, ChangesColoursNotBoxes) {
  DistortParams p;
  p.brightness_prob = p.contrast_prob = p.saturation_prob = p.hue_prob = 1.0f;
  DistortImage t(p);
  Sample s = red_box_sample();
  const cv::Mat before = s.image.clone();
  Rng rng(3);
  t.apply(s, rng);
  expect_box_near(s.boxes[0], {10, 5, 20, 15}, 0);
  EXPECT_GT(cv::norm(before, s.image, cv::NORM_L1), 0.0);
  EXPECT_EQ(s.image.size(), before.size());
}

TEST(DistortImage, BrightnessScalesValues) {
  DistortParams p;
  p.brightness_lower = p.brightness_upper = 1.5f;
  p.brightness_prob = 1.0f;
  p.contrast_prob = p.saturation_prob = p.hue_prob = 0.0f;
  Sample s = red_box_sample();
  Rng rng(0);
  DistortImage(p).apply(s, rng);
  EXPECT_EQ(s.image.at<cv::Vec3b>(0, 0)[0], 150);    // 100 * 1.5
  EXPECT_EQ(s.image.at<cv::Vec3b>(10, 15)[0], 255);  // saturates
}

TEST(NormalizeImage, MatchesHandComputedValues) {
  NormalizeImage t({0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, true);
  Sample s;
  s.image = cv::Mat(2, 2, CV_8UC3, cv::Scalar(100, 150, 200));
  Rng rng(0);
  t.apply(s, rng);
  ASSERT_EQ(s.image.type(), CV_32FC3);
  const auto v = s.image.at<cv::Vec3f>(1, 1);
  EXPECT_NEAR(v[0], (100 / 255.0 - 0.485) / 0.229, 1e-5);
  EXPECT_NEAR(v[1], (150 / 255.0 - 0.456) / 0.224, 1e-5);
  EXPECT_NEAR(v[2], (200 / 255.0 - 0.406) / 0.225, 1e-5);
}

TEST(Pipeline, SsdAugmentationChainKeepsBoxesOnTheirPixels) {
  // The default SSD chain without the colour steps (which would hide the red).
  const auto spec = YAML::Load(
      "[{type: ExpandImage, max_ratio: 4.0, prob: 0.5, mean: [0, 0, 0]},"
      " {type: CropImage, batch_sampler: [[1, 1, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0], [1, 50, 0.3, 1.0, 0.5, 2.0, 0.3, 0.0]],"
      "  satisfy_all: false, avoid_no_bbox: true},"
      " {type: ResizeImage, target_size: 64, interp: linear}, {type: RandomFlipImage, prob: 0.5}]");
  std::vector<std::unique_ptr<Transform>> chain;
  for (const auto& t : spec) chain.push_back(make_transform(t));
  for (uint64_t seed = 0; seed < 30; ++seed) {
    Sample s = red_box_sample(60, 40, {10, 5, 30, 25});
    Rng rng(seed);
    for (auto& t : chain) t->apply(s, rng);
    ASSERT_EQ(s.image.cols, 64);
    ASSERT_EQ(s.boxes.size(), 1u) << seed;
    // Expand up to 4x then resize 64/240: a pixel edge blurs by up to ~1 output pixel.
    expect_box_near(red_extent(s.image), s.boxes[0], 1.5f);
  }
}

TEST(Pipeline, UnknownTransformIsAnError) {
  EXPECT_THROW(make_transform(YAML::Load("{type: Mosaic}")), std::exception);
}
