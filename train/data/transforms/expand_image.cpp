#include "train/data/transforms/transforms.h"

namespace compress {

void ExpandImage::apply(Sample& s, Rng& rng) const {
  if (!rng.bernoulli(prob_)) return;
  const double ratio = rng.uniform(1.0, max_ratio_);
  if (ratio < 1.01) return;
  const int h = s.image.rows, w = s.image.cols;
  const int H = static_cast<int>(h * ratio), W = static_cast<int>(w * ratio);
  const int top = static_cast<int>(std::floor(rng.uniform(0, H - h)));
  const int left = static_cast<int>(std::floor(rng.uniform(0, W - w)));
  cv::Mat canvas(H, W, s.image.type(), cv::Scalar(mean_[0], mean_[1], mean_[2]));
  s.image.copyTo(canvas(cv::Rect(left, top, w, h)));
  s.image = canvas;
  for (auto& b : s.boxes) b = {b.x1 + left, b.y1 + top, b.x2 + left, b.y2 + top};
}

}  // namespace compress
