#include <opencv2/imgproc.hpp>

#include "train/data/transforms/transforms.h"

namespace compress {

namespace {
// out = clamp(a * v + b) for every uint8 value, through a lookup table.
void affine_lut(cv::Mat& img, double a, double b) {
  cv::Mat lut(1, 256, CV_8U);
  for (int v = 0; v < 256; ++v) lut.at<uint8_t>(v) = cv::saturate_cast<uint8_t>(a * v + b);
  cv::LUT(img, lut, img);
}
}  // namespace

void DistortImage::apply(Sample& s, Rng& rng) const {
  cv::Mat& img = s.image;  // (H, W) CV_8UC3 RGB
  if (rng.bernoulli(p_.brightness_prob)) affine_lut(img, rng.uniform(p_.brightness_lower, p_.brightness_upper), 0);
  if (rng.bernoulli(p_.contrast_prob)) {
    // Blend towards the mean grey level (PIL ImageEnhance.Contrast).
    const double d = rng.uniform(p_.contrast_lower, p_.contrast_upper);
    cv::Mat gray;
    cv::cvtColor(img, gray, cv::COLOR_RGB2GRAY);
    const double m = cv::mean(gray)[0];
    affine_lut(img, d, m * (1 - d));
  }
  if (rng.bernoulli(p_.saturation_prob)) {
    // Blend towards the pixel's own grey (PIL ImageEnhance.Color).
    const double d = rng.uniform(p_.saturation_lower, p_.saturation_upper);
    cv::Mat gray, gray3;
    cv::cvtColor(img, gray, cv::COLOR_RGB2GRAY);
    cv::cvtColor(gray, gray3, cv::COLOR_GRAY2RGB);
    cv::addWeighted(img, d, gray3, 1 - d, 0, img);
  }
  if (rng.bernoulli(p_.hue_prob)) {
    const double deg = rng.uniform(p_.hue_lower, p_.hue_upper);
    const int shift = static_cast<int>(std::lround(deg / 2.0));  // OpenCV's 8-bit hue is degrees / 2
    if (shift != 0) {
      cv::Mat hsv;
      cv::cvtColor(img, hsv, cv::COLOR_RGB2HSV);
      for (int y = 0; y < hsv.rows; ++y) {
        auto* row = hsv.ptr<cv::Vec3b>(y);
        for (int x = 0; x < hsv.cols; ++x) row[x][0] = static_cast<uint8_t>((row[x][0] + shift + 180) % 180);
      }
      cv::cvtColor(hsv, img, cv::COLOR_HSV2RGB);
    }
  }
}

}  // namespace compress
