// The three geometric/value transforms every pipeline ends with.
#include <opencv2/imgproc.hpp>

#include "train/data/transforms/transforms.h"
#include "train/util/error.h"

namespace compress {

void RandomFlipImage::apply(Sample& s, Rng& rng) const {
  if (!rng.bernoulli(prob_)) return;
  cv::Mat flipped;
  cv::flip(s.image, flipped, /*flipCode=*/1);
  s.image = flipped;
  const float W = static_cast<float>(s.image.cols);
  for (auto& b : s.boxes) b = {W - b.x2, b.y1, W - b.x1, b.y2};
}

void resize_sample(Sample& s, int w, int h, int interp) {
  const float sx = static_cast<float>(w) / s.image.cols, sy = static_cast<float>(h) / s.image.rows;
  cv::Mat out;
  cv::resize(s.image, out, cv::Size(w, h), 0, 0, interp);
  s.image = out;
  for (auto& b : s.boxes) b = {b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy};
}

void ResizeImage::apply(Sample& s, Rng&) const { resize_sample(s, target_size_, target_size_, interp_); }

void NormalizeImage::apply(Sample& s, Rng&) const {
  if (s.image.depth() != CV_8U) fail("NormalizeImage: expected a uint8 image (is NormalizeImage listed twice?)");
  const float scale = is_scale_ ? 1.f / 255.f : 1.f;
  cv::Mat out(s.image.rows, s.image.cols, CV_32FC3);
  float mul[3], add[3];
  for (int c = 0; c < 3; ++c) {
    mul[c] = scale / std_[c];
    add[c] = -mean_[c] / std_[c];
  }
  for (int y = 0; y < s.image.rows; ++y) {
    const uint8_t* src = s.image.ptr<uint8_t>(y);
    float* dst = out.ptr<float>(y);
    for (int x = 0; x < s.image.cols; ++x)
      for (int c = 0; c < 3; ++c) dst[3 * x + c] = src[3 * x + c] * mul[c] + add[c];
  }
  s.image = out;
}

void RandomShape::apply(std::vector<Sample>& batch, Rng& rng) const {
  if (sizes_.empty()) return;
  const int size = sizes_[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(sizes_.size()) - 1))];
  static const int kInterps[] = {cv::INTER_NEAREST, cv::INTER_LINEAR, cv::INTER_AREA, cv::INTER_CUBIC};
  const int interp = random_inter_ ? kInterps[rng.randint(0, 3)] : cv::INTER_LINEAR;
  for (auto& s : batch) resize_sample(s, size, size, interp);
}

}  // namespace compress
