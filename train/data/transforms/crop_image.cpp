#include "train/data/transforms/transforms.h"

namespace compress {

namespace {

struct NBox {  // normalized [0, 1] coordinates
  double x1, y1, x2, y2;
};

double jaccard(const NBox& a, const NBox& b) {
  const double iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const double ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const double inter = iw * ih;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

// A crop of `scale` of the side and `aspect` (w/h), clamped so it fits the image.
NBox sample_box(const std::array<float, 8>& s, Rng& rng) {
  const double scale = rng.uniform(s[2], s[3]);
  double aspect = rng.uniform(s[4], s[5]);
  aspect = std::max(aspect, scale * scale);
  aspect = std::min(aspect, 1.0 / (scale * scale));
  const double w = std::min(1.0, scale * std::sqrt(aspect)), h = std::min(1.0, scale / std::sqrt(aspect));
  const double x = rng.uniform(0, 1 - w), y = rng.uniform(0, 1 - h);
  return {x, y, x + w, y + h};
}

bool satisfies(const std::array<float, 8>& s, const NBox& crop, const std::vector<NBox>& gts, bool all) {
  const double lo = s[6], hi = s[7];
  if (lo == 0 && hi == 0) return true;
  bool any = false;
  for (const auto& g : gts) {
    const double o = jaccard(crop, g);
    const bool ok = (lo == 0 || o >= lo) && (hi == 0 || o <= hi);
    if (ok && !all) return true;
    if (!ok && all) return false;
    any = any || ok;
  }
  return all ? !gts.empty() : any;
}

}  // namespace

void CropImage::apply(Sample& s, Rng& rng) const {
  const double W = s.image.cols, H = s.image.rows;
  std::vector<NBox> gts;
  for (const auto& b : s.boxes) gts.push_back({b.x1 / W, b.y1 / H, b.x2 / W, b.y2 / H});
  std::vector<NBox> found;
  for (const auto& sm : samplers_) {
    int n = 0;
    for (int t = 0; t < static_cast<int>(sm[1]) && n < static_cast<int>(sm[0]); ++t) {
      const NBox c = sample_box(sm, rng);
      if (satisfies(sm, c, gts, satisfy_all_)) {
        found.push_back(c);
        ++n;
      }
    }
  }
  while (!found.empty()) {
    const size_t k = static_cast<size_t>(rng.randint(0, static_cast<int64_t>(found.size()) - 1));
    const NBox c = found[k];
    found.erase(found.begin() + static_cast<std::ptrdiff_t>(k));
    const int x0 = static_cast<int>(c.x1 * W), y0 = static_cast<int>(c.y1 * H);
    const int x1 = std::max(x0 + 1, static_cast<int>(c.x2 * W)), y1 = std::max(y0 + 1, static_cast<int>(c.y2 * H));
    std::vector<Box> boxes;
    std::vector<int64_t> labels;
    std::vector<float> scores;  // stays empty when the sample's is (every box weighs 1)
    for (size_t i = 0; i < s.boxes.size(); ++i) {
      const Box& b = s.boxes[i];
      const float cx = 0.5f * (b.x1 + b.x2), cy = 0.5f * (b.y1 + b.y2);
      if (cx < x0 || cx >= x1 || cy < y0 || cy >= y1) continue;  // keep boxes whose centre is inside
      Box nb{std::max<float>(b.x1, x0) - x0, std::max<float>(b.y1, y0) - y0, std::min<float>(b.x2, x1) - x0,
             std::min<float>(b.y2, y1) - y0};
      if (nb.width() <= 0 || nb.height() <= 0) continue;
      boxes.push_back(nb);
      labels.push_back(s.labels[i]);
      if (!s.scores.empty()) scores.push_back(s.scores[i]);
    }
    if (avoid_no_bbox_ && boxes.empty()) continue;
    s.image = s.image(cv::Rect(x0, y0, x1 - x0, y1 - y0));  // a view; resize copies it later
    s.boxes = std::move(boxes);
    s.labels = std::move(labels);
    s.scores = std::move(scores);
    return;
  }
}

}  // namespace compress
