// Fashion-MNIST items as classification crops, for pretraining a detector's
// backbone (`compress pretrain`): one item, coloured and on a background as in
// fashion-det's images, at a random size and place. The reference starts its
// detectors from ImageNet-pretrained backbones; this is this machine's stand-in.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "train/data/idx_reader.h"

namespace compress {

struct FashionItems {
  IdxImages images;             // (count, 28, 28)
  std::vector<uint8_t> labels;  // (count), 0..9
  int count() const { return images.count; }
};

// `split`: "train" (60,000 items) or "t10k" (10,000). Errors name the file.
FashionItems load_fashion_items(const std::string& mnist_dir, const std::string& split);

struct ItemCropOptions {
  int size = 64;           // canvas side, pixels
  double scale_lo = 0.35;  // item side / canvas side, drawn log-uniformly in [lo, hi]
  double scale_hi = 1.0;
  bool flip = true;  // mirror left-right with probability 0.5
};

// (size, size) CV_8UC3 BGR: item `index` on a fashion-det background. Same
// arguments, same pixels.
cv::Mat render_item_crop(const FashionItems& items, int index, const ItemCropOptions& o, uint64_t seed);

}  // namespace compress
