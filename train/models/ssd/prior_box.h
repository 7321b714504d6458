// SSD prior (anchor) boxes as PaddlePaddle's prior_box / SSDLiteMultiBoxHead make them.
#pragma once
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

namespace compress {

struct PriorBoxOptions {
  std::vector<std::vector<double>> aspect_ratios;  // per feature map, e.g. {{2}, {2, 3}, ...}
  double base_size = 320;
  std::vector<double> steps;  // per feature map, pixels; empty: image size / feature map size
  bool flip = true;
  double min_ratio = 20, max_ratio = 95;  // percent of base_size
  // How min_ratio / max_ratio become sizes. "reference": PaddleDetection's (Caffe
  // SSD's) rule, the first map at 10% / 20% of base_size, then floor steps.
  // "linspace": the SSD paper's eq. 4 as torchvision's DefaultBoxGenerator has it,
  // s_k = min + (max - min) k / (m - 1) for every map (the first included), the
  // partner size s_{k+1}, and 100% after the last.
  std::string size_rule = "reference";
  // Explicit prior sizes in input pixels, one per feature map (the reference's
  // min_sizes / max_sizes); empty: derived from min_ratio / max_ratio.
  std::vector<double> min_sizes, max_sizes;
  double offset = 0.5;
  bool clip = true;
};

// [1, ar1, 1/ar1, ar2, 1/ar2, ...] without near-duplicates (prior_box's ExpandAspectRatios).
std::vector<double> expand_aspect_ratios(const std::vector<double>& ars, bool flip);

// min/max sizes in pixels for `num_maps` maps: min_sizes / max_sizes when given; else by size_rule: "reference",
// base*0.1 / base*0.2 for the first map, then ratios min_ratio, min_ratio + step, ... with
// step = floor((max - min) / (num_maps - 2)); "linspace", ratios evenly from min_ratio to max_ratio.
std::pair<std::vector<double>, std::vector<double>> ssd_min_max_sizes(const PriorBoxOptions& o, int num_maps);

// Priors per feature-map location: expanded aspect ratios + 1 (the sqrt(min*max) square).
std::vector<int64_t> priors_per_location(const PriorBoxOptions& o);

// (A, 4) normalized xyxy priors for feature maps of sizes (h_i, w_i), ordered
// map by map, row by row, column by column, prior by prior.
torch::Tensor make_priors(const PriorBoxOptions& o, const std::vector<std::pair<int64_t, int64_t>>& fmap_sizes,
                          int64_t img_h, int64_t img_w);

}  // namespace compress
