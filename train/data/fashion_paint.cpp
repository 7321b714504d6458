#include "train/data/fashion_paint.h"

#include <opencv2/imgproc.hpp>

#include <cmath>

namespace compress {

cv::Scalar random_color(Rng& rng, double v_lo, double v_hi) {
  // HSV -> BGR by hand so the result does not depend on OpenCV's rounding.
  const double h = rng.uniform(0, 6), s = rng.uniform(0.3, 1.0), v = rng.uniform(v_lo, v_hi);
  const int i = static_cast<int>(h) % 6;
  const double f = h - std::floor(h), p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  double r, g, b;
  switch (i) {
    case 0:
      r = v, g = t, b = p;
      break;
    case 1:
      r = q, g = v, b = p;
      break;
    case 2:
      r = p, g = v, b = t;
      break;
    case 3:
      r = p, g = q, b = v;
      break;
    case 4:
      r = t, g = p, b = v;
      break;
    default:
      r = v, g = p, b = q;
      break;
  }
  return cv::Scalar(b * 255, g * 255, r * 255);
}

// Three background families: gradients, stripes/checks, and shape clutter;
// all get per-pixel noise so that no background is flat.
cv::Mat make_background(int S, Rng& rng) {
  cv::Mat bg(S, S, CV_8UC3);
  const int kind = static_cast<int>(rng.randint(0, 2));
  const cv::Scalar c0 = random_color(rng, 0.2, 0.9), c1 = random_color(rng, 0.2, 0.9);
  if (kind == 0) {
    const double ang = rng.uniform(0, 2 * M_PI), ca = std::cos(ang), sa = std::sin(ang);
    for (int y = 0; y < S; ++y) {
      auto* row = bg.ptr<cv::Vec3b>(y);
      for (int x = 0; x < S; ++x) {
        const double t = 0.5 + 0.5 * ((x - S / 2.0) * ca + (y - S / 2.0) * sa) / (S * 0.7072);
        for (int c = 0; c < 3; ++c) row[x][c] = cv::saturate_cast<uint8_t>(c0[c] * (1 - t) + c1[c] * t);
      }
    }
  } else if (kind == 1) {
    const int period = static_cast<int>(rng.randint(6, 40));
    const bool checks = rng.bernoulli(0.5);
    const double mix = rng.uniform(0.15, 0.5);  // low contrast, so items stay the salient thing
    for (int y = 0; y < S; ++y) {
      auto* row = bg.ptr<cv::Vec3b>(y);
      for (int x = 0; x < S; ++x) {
        const bool on = checks ? (((x / period) + (y / period)) & 1) : ((x + y) / period & 1);
        for (int c = 0; c < 3; ++c)
          row[x][c] = cv::saturate_cast<uint8_t>(on ? c0[c] * (1 - mix) + c1[c] * mix : c0[c]);
      }
    }
  } else {
    bg.setTo(c0);
    const int shapes = static_cast<int>(rng.randint(15, 60));
    for (int k = 0; k < shapes; ++k) {
      const cv::Scalar col = random_color(rng, 0.2, 0.9);
      const cv::Point p0(static_cast<int>(rng.randint(0, S - 1)), static_cast<int>(rng.randint(0, S - 1)));
      const cv::Point p1(static_cast<int>(rng.randint(0, S - 1)), static_cast<int>(rng.randint(0, S - 1)));
      switch (rng.randint(0, 2)) {
        case 0:
          cv::line(bg, p0, p1, col, static_cast<int>(rng.randint(1, 4)));
          break;
        case 1:
          cv::circle(bg, p0, static_cast<int>(rng.randint(2, S / 10)), col, -1);
          break;
        default: {
          const cv::Point p2(p0.x + static_cast<int>(rng.randint(3, S / 8)),
                             p0.y + static_cast<int>(rng.randint(3, S / 8)));
          cv::rectangle(bg, p0, p2, col, rng.bernoulli(0.5) ? -1 : 2);
        }
      }
    }
  }
  const int amp = static_cast<int>(rng.randint(4, 20));
  for (int y = 0; y < S; ++y) {
    auto* row = bg.ptr<uint8_t>(y);
    for (int x = 0; x < S * 3; ++x) row[x] = cv::saturate_cast<uint8_t>(row[x] + rng.randint(-amp, amp));
  }
  return bg;
}

void paint_item(cv::Mat& canvas, cv::Mat* owner, const cv::Mat& alpha, int ox, int oy, const cv::Scalar& col,
                uint16_t tag, int visible_threshold) {
  for (int y = 0; y < alpha.rows; ++y) {
    const uint8_t* a = alpha.ptr<uint8_t>(y);
    auto* dst = canvas.ptr<cv::Vec3b>(oy + y) + ox;
    auto* own_row = owner ? owner->ptr<uint16_t>(oy + y) + ox : nullptr;
    for (int x = 0; x < alpha.cols; ++x) {
      if (a[x] == 0) continue;
      const double g = a[x] / 255.0;
      const double op = std::min(1.0, 2.0 * g);  // opaque interior, soft edge
      const double shade = 0.35 + 0.65 * g;      // keeps the item's own texture
      for (int c = 0; c < 3; ++c) dst[x][c] = cv::saturate_cast<uint8_t>(dst[x][c] * (1 - op) + col[c] * shade * op);
      if (own_row && a[x] >= visible_threshold) own_row[x] = tag;
    }
  }
}

}  // namespace compress
