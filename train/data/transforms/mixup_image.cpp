#include <opencv2/core.hpp>

#include <algorithm>

#include "train/data/transforms/transforms.h"
#include "train/util/error.h"

namespace compress {
namespace {
// A box list's weights: scores when present, 1 each otherwise.
std::vector<float> weights_of(const Sample& s) {
  return s.scores.empty() ? std::vector<float>(s.boxes.size(), 1.f) : s.scores;
}
}  // namespace

void MixupImage::mix(Sample& s, const Sample& partner, float factor) {
  if (s.image.type() != CV_8UC3 || partner.image.type() != CV_8UC3)
    fail("MixupImage: expected decoded uint8 RGB images; it must come first in sample_transforms");
  if (!(factor > 0 && factor < 1)) fail("MixupImage: factor must be in (0, 1), got ", factor);
  const int H = std::max(s.image.rows, partner.image.rows), W = std::max(s.image.cols, partner.image.cols);
  // (H, W, 3) float canvas: each image adds its weighted pixels at the top-left.
  cv::Mat canvas = cv::Mat::zeros(H, W, CV_32FC3);
  cv::Mat a, b;
  s.image.convertTo(a, CV_32FC3, factor);
  partner.image.convertTo(b, CV_32FC3, 1.0 - factor);
  canvas(cv::Rect(0, 0, a.cols, a.rows)) += a;
  canvas(cv::Rect(0, 0, b.cols, b.rows)) += b;
  canvas.convertTo(s.image, CV_8UC3);  // rounds to nearest, saturates

  std::vector<float> scores = weights_of(s), other = weights_of(partner);
  for (float& w : scores) w *= factor;
  for (float w : other) scores.push_back(w * (1.f - factor));
  s.boxes.insert(s.boxes.end(), partner.boxes.begin(), partner.boxes.end());
  s.labels.insert(s.labels.end(), partner.labels.begin(), partner.labels.end());
  s.scores = std::move(scores);
}

void MixupImage::apply(Sample& s, Sample partner, Rng& rng) const {
  const float factor = static_cast<float>(std::clamp(rng.beta(alpha_, beta_), 0.0, 1.0));
  if (factor >= 1.f) return;
  if (factor <= 0.f) {
    // The partner replaces the sample; the eval-facing identity stays the sample's.
    partner.image_id = s.image_id, partner.orig_width = s.orig_width, partner.orig_height = s.orig_height;
    s = std::move(partner);
    return;
  }
  mix(s, partner, factor);
}

}  // namespace compress
