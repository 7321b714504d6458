// SSD prior (anchor) boxes as PaddlePaddle's prior_box / SSDLiteMultiBoxHead make them.
#pragma once
#include <torch/types.h>

#include <utility>
#include <vector>

namespace compress {

struct PriorBoxOptions {
  std::vector<std::vector<double>> aspect_ratios;  // per feature map, e.g. {{2}, {2, 3}, ...}
  double base_size = 320;
  std::vector<double> steps;  // per feature map, pixels; empty: image size / feature map size
  bool flip = true;
  double min_ratio = 20, max_ratio = 95;  // percent of base_size
  // Explicit prior sizes in input pixels, one per feature map (the reference's
  // min_sizes / max_sizes); empty: derived from min_ratio / max_ratio.
  std::vector<double> min_sizes, max_sizes;
  double offset = 0.5;
  bool clip = true;
};

// [1, ar1, 1/ar1, ar2, 1/ar2, ...] without near-duplicates (prior_box's ExpandAspectRatios).
std::vector<double> expand_aspect_ratios(const std::vector<double>& ars, bool flip);

// min/max sizes in pixels for `num_maps` maps: min_sizes / max_sizes when given; else base*0.1 / base*0.2 for the first
// map, then ratios min_ratio, min_ratio + step, ... with step = floor((max - min) / (num_maps - 2)).
std::pair<std::vector<double>, std::vector<double>> ssd_min_max_sizes(const PriorBoxOptions& o, int num_maps);

// Priors per feature-map location: expanded aspect ratios + 1 (the sqrt(min*max) square).
std::vector<int64_t> priors_per_location(const PriorBoxOptions& o);

// (A, 4) normalized xyxy priors for feature maps of sizes (h_i, w_i), ordered
// map by map, row by row, column by column, prior by prior.
torch::Tensor make_priors(const PriorBoxOptions& o, const std::vector<std::pair<int64_t, int64_t>>& fmap_sizes,
                          int64_t img_h, int64_t img_w);

}  // namespace compress
