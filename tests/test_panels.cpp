// The side-by-side detection picture of `infer --compare/--onnx`: its layout
// in pixels, boxes scaled from the model's input to each panel, identical
// detections giving identical panels, and mismatched inputs as errors.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "train/util/error.h"
#include "train/util/panels.h"

using namespace compress;

namespace {

// A grey 128 x 96 (w x h) image.
cv::Mat grey(int w = 128, int h = 96) { return cv::Mat(h, w, CV_8UC3, cv::Scalar::all(100)); }

ModelDetections one_box(const std::string& title, float x1, float y1, float x2, float y2, float score = 0.9f) {
  return {title, {{{x1, y1, x2, y2, score, 0}}}};
}

bool same(const cv::Mat& a, const cv::Mat& b) { return cv::countNonZero(cv::Mat(a != b).reshape(1)) == 0; }

}  // namespace

TEST(Panels, BoxesScaleFromTheModelInputToThePicture) {
  // A 64 x 32 input box (16, 8)-(32, 24) on a 128 x 96 picture: x by 2, y by 3.
  const auto b = to_draw_boxes({{16, 8, 32, 24, 0.5f, 3}, {0, 0, 1, 1, 0.1f, 1}}, 32, 64, 96, 128, 0.3f);
  ASSERT_EQ(b.size(), 1u);  // 0.1 is under the threshold
  EXPECT_FLOAT_EQ(b[0].x1, 32);
  EXPECT_FLOAT_EQ(b[0].y1, 24);
  EXPECT_FLOAT_EQ(b[0].x2, 64);
  EXPECT_FLOAT_EQ(b[0].y2, 72);
  EXPECT_EQ(b[0].label, 3);
  EXPECT_FLOAT_EQ(b[0].score, 0.5f);
}

TEST(Panels, OneColumnIsThePlainPicture) {
  const cv::Mat img = grey();
  const auto m = one_box("float", 8, 8, 40, 40);
  const cv::Mat out = draw_panels({img}, {{96, 128}}, {m}, {"a"}, 0.3f);
  cv::Mat want = img.clone();
  draw_boxes(want, to_draw_boxes(m.dets[0], 96, 128, 96, 128, 0.3f), {"a"});
  ASSERT_EQ(out.size(), want.size());
  EXPECT_TRUE(same(out, want));
}

TEST(Panels, GridOfTitledPanelsOneColumnPerModel) {
  const cv::Mat a = grey(), b = grey(64, 48);  // the second image is drawn at the first one's size
  const ModelDetections f{"float.pt", {{{8, 8, 40, 40, 0.9f, 0}}, {}}};
  const ModelDetections same_as_f{"again.pt", f.dets};
  const ModelDetections other{"pruned.pt", {{{60, 50, 100, 90, 0.9f, 1}}, {}}};
  const cv::Mat out = draw_panels({a, b}, {{96, 128}, {96, 128}}, {f, same_as_f, other}, {"a", "b"}, 0.3f);
  // 3 columns of 128 px and 2 rows of a 22 px title bar over 96 px, 2 px gutters.
  EXPECT_EQ(out.cols, 3 * 128 + 2 * 2);
  EXPECT_EQ(out.rows, 2 * (kTitleBar + 96) + 2);
  auto panel = [&](int r, int c) { return out(cv::Rect(c * 130, r * (kTitleBar + 96 + 2) + kTitleBar, 128, 96)); };
  auto bar = [&](int r, int c) { return out(cv::Rect(c * 130, r * (kTitleBar + 96 + 2), 128, kTitleBar)); };
  // The same detections draw the same pixels; other ones do not; titles differ.
  EXPECT_TRUE(same(panel(0, 0), panel(0, 1)));
  EXPECT_FALSE(same(panel(0, 0), panel(0, 2)));
  EXPECT_FALSE(same(bar(0, 0), bar(0, 1)));
  // Second row: no boxes anywhere, so the three panels are the resized image.
  cv::Mat b_resized;
  cv::resize(b, b_resized, a.size());
  for (int c = 0; c < 3; ++c) EXPECT_TRUE(same(panel(1, c), b_resized)) << c;
  // The box edge of "pruned.pt" is drawn at (60, 50): not the grey background.
  EXPECT_NE(panel(0, 2).at<cv::Vec3b>(70, 60), cv::Vec3b(100, 100, 100));
  EXPECT_EQ(panel(0, 0).at<cv::Vec3b>(70, 60), cv::Vec3b(100, 100, 100));
  // Gutters are grey 160.
  EXPECT_EQ(out.at<cv::Vec3b>(50, 128), cv::Vec3b(160, 160, 160));
}

TEST(Panels, OneModelOnSeveralImagesStacksThemWithGutters) {
  const ModelDetections f{"float.pt", {{}, {}}};
  const cv::Mat out = draw_panels({grey(), grey()}, {{96, 128}, {96, 128}}, {f}, {"a"}, 0.3f);
  EXPECT_EQ(out.cols, 128);
  EXPECT_EQ(out.rows, 2 * 96 + 2);  // no title bars with one model
  EXPECT_EQ(out.at<cv::Vec3b>(96, 10), cv::Vec3b(160, 160, 160));
}

TEST(Panels, MismatchedInputsAreErrors) {
  const cv::Mat a = grey();
  const auto f = one_box("float.pt", 8, 8, 40, 40);
  try {
    draw_panels({a, a}, {{96, 128}, {96, 128}}, {f}, {"a"}, 0.3f);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'float.pt' has detections for 1 of 2 images"), std::string::npos) << e.what();
  }
  EXPECT_THROW(draw_panels({}, {}, {f}, {"a"}, 0.3f), Error);
  EXPECT_THROW(draw_panels({a}, {}, {f}, {"a"}, 0.3f), Error);
}

TEST(Panels, LabelsOfOneBoxStackInsteadOfOverlapping) {
  // Per-class NMS keeps one box per class, so two classes often share a box.
  const DrawBox a{40, 40, 100, 90, 0, 0.8f}, b{40, 40, 100, 90, 1, 0.6f};
  cv::Mat only_a = grey(), both = grey();
  draw_boxes(only_a, {a}, {"first", "second"});
  draw_boxes(both, {a, b}, {"first", "second"});
  // a's label (a band above y = 40, right of x = 40) is untouched by b's...
  const cv::Rect a_label(40, 26, 30, 14);
  EXPECT_TRUE(same(only_a(a_label), both(a_label)));
  // ...which is drawn in the band below it, inside the box.
  const cv::Rect below(40, 42, 30, 10);
  EXPECT_FALSE(same(only_a(below), both(below)));
}
