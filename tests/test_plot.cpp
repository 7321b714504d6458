// The bar charts are read by people: these check that bar lengths are the
// values' proportions, by counting pixels along each row.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include "train/util/plot.h"

using namespace compress;

namespace {

// Pixels of one BGR colour along row y.
int count_colour(const cv::Mat& img, int y, const cv::Vec3b& c) {
  int n = 0;
  for (int x = 0; x < img.cols; ++x) n += img.at<cv::Vec3b>(y, x) == c;
  return n;
}

// The leftmost pixel of that colour on row y, or -1.
int first_x(const cv::Mat& img, int y, const cv::Vec3b& c) {
  for (int x = 0; x < img.cols; ++x)
    if (img.at<cv::Vec3b>(y, x) == c) return x;
  return -1;
}

const cv::Vec3b kBlue(180, 119, 31), kRed(40, 39, 214), kGrey(215, 215, 215);
constexpr int kTop = 34, kRow = 20;  // the charts' layout: row i is centred at kTop + kRow * i + 10
int row_y(int i) { return kTop + kRow * i + 10; }

}  // namespace

TEST(Plot, BeforeAfterBarsAreProportionalToTheirValues) {
  const cv::Mat img =
      before_after_chart("t", "v", {"pruned", "untouched"}, {100, 50}, {25, 50}, {"100 -> 25", "50 -> 50"}, 900);
  ASSERT_EQ(img.rows, kTop + 36 + 2 * kRow);
  // Row 0: the colour bar is a quarter of the grey one it covers.
  const int blue0 = count_colour(img, row_y(0), kBlue), grey0 = count_colour(img, row_y(0), kGrey);
  ASSERT_GT(blue0, 10);
  EXPECT_NEAR(double(blue0) / (blue0 + grey0), 0.25, 2.0 / (blue0 + grey0));
  // Row 1: after == before, half of row 0's full length, no grey left showing.
  const int blue1 = count_colour(img, row_y(1), kBlue);
  EXPECT_EQ(count_colour(img, row_y(1), kGrey), 0);
  EXPECT_NEAR(blue1, (blue0 + grey0) / 2.0, 1.5);
  // Both start at the same zero line.
  EXPECT_EQ(first_x(img, row_y(0), kBlue), first_x(img, row_y(1), kBlue));
}

TEST(Plot, NegativeBarsExtendLeftOfZero) {
  const cv::Mat img = bar_chart("t", "v", {"gain", "loss"}, {2.0, -1.0}, 900);
  const int blue = count_colour(img, row_y(0), kBlue), red = count_colour(img, row_y(1), kRed);
  EXPECT_EQ(count_colour(img, row_y(0), kRed), 0);
  EXPECT_EQ(count_colour(img, row_y(1), kBlue), 0);
  EXPECT_NEAR(red, blue / 2.0, 1.5);
  EXPECT_LT(first_x(img, row_y(1), kRed), first_x(img, row_y(0), kBlue));  // left of zero
}
