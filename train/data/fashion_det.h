// fashion-det: a COCO-format detection set composed from Fashion-MNIST items.
// Each image holds 1-6 coloured items, 6%-60% of the canvas side, on textured or
// cluttered backgrounds, overlapping little; each box is tight around the
// item's visible pixels. Same arguments -> same files, byte for byte.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "train/data/idx_reader.h"

namespace compress {

extern const char* const kFashionClassNames[10];

struct FashionDetOptions {
  std::string mnist_dir = "/usr/share/datasets/fashion-mnist";
  std::string out_dir = "data/fashion_det";
  int image_size = 320;
  int num_train = 4000;
  int num_val = 500;
  uint64_t seed = 0;
  int threads = 2;
  int jpeg_quality = 92;
};

struct ComposedItem {
  int label = 0;                       // 0..9, Fashion-MNIST class
  int source_index = 0;                // index into the idx split it came from
  int x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // inclusive pixel bounds of the visible pixels
  int64_t visible_pixels = 0;
};

struct ComposedImage {
  cv::Mat image;  // (S, S) CV_8UC3, BGR (OpenCV's order, for imwrite)
  cv::Mat owner;  // (S, S) CV_16U: 0 = background, k+1 = items[k] is visible here
  std::vector<ComposedItem> items;
};

// Composes one image from `items`/`labels` (one Fashion-MNIST split) with its own seed.
ComposedImage compose_fashion_image(const IdxImages& items, const std::vector<uint8_t>& labels, int size,
                                    uint64_t seed);

// Writes <out>/{train,val}/NNNNNN.jpg and <out>/annotations/instances_{train,val}.json.
void generate_fashion_det(const FashionDetOptions& opt);

}  // namespace compress
