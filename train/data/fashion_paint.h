// Painting Fashion-MNIST items: the backgrounds and the item colouring that
// fashion-det's detection images and `compress pretrain`'s classification
// crops share, so a backbone pretrained on the crops sees the same pixels.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>

#include "train/util/rng.h"

namespace compress {

// A random colour of value (brightness) in [v_lo, v_hi], BGR 0..255.
cv::Scalar random_color(Rng& rng, double v_lo, double v_hi);

// (S, S) CV_8UC3 BGR: a gradient, stripes/checks or shape clutter, with noise.
cv::Mat make_background(int S, Rng& rng);

// Paints the item mask `alpha` (h, w) CV_8U (Fashion-MNIST intensities,
// resized) onto `canvas` at (ox, oy) in colour `col`: opaque inside, soft at
// the edge, shaded by the item's own texture. Where alpha >= visible_threshold,
// `owner` (same size as canvas, CV_16U; may be null) is set to `tag`.
void paint_item(cv::Mat& canvas, cv::Mat* owner, const cv::Mat& alpha, int ox, int oy, const cv::Scalar& col,
                uint16_t tag, int visible_threshold);

}  // namespace compress
