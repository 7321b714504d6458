// A tiny fashion-det set and a tiny SSDLite recipe for training tests.
#pragma once
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "train/config/config.h"
#include "train/data/fashion_det.h"

namespace testutil {

// Generates `n` train images (and 2 val) of `size` px into `dir`.
inline void make_tiny_fashion(const TempDir& dir, int n, int size, uint64_t seed = 0) {
  compress::FashionDetOptions o;
  o.image_size = size, o.num_train = n, o.num_val = 2, o.seed = seed, o.out_dir = dir.path().string();
  compress::generate_fashion_det(o);
}

// SSDLite-MobileNetV3-Small x0.5 with narrow extras at `size` px, no augmentation,
// reading `dir` for both training and evaluation (the overfit setting).
inline std::vector<std::string> tiny_ssd_overrides(const TempDir& dir, int size) {
  const std::string d = dir.path().string(), s = std::to_string(size);
  std::vector<std::string> o = {
      "num_classes=10",
      "MobileNetV3.model_name=small",
      "MobileNetV3.scale=0.5",
      "MobileNetV3.lr_mult_list=[1.0]",
      "MobileNetV3.extra_block_filters=[[16, 32], [16, 32], [16, 32], [16, 32]]",
      "SSDLiteMultiBoxHead.base_size=" + s,
      "SSDLiteMultiBoxHead.steps=[]",
      "save_dir=" + d + "/out",
      "log_iter=10",
  };
  for (const std::string r : {"TrainReader", "EvalReader"}) {
    o.push_back(r + ".dataset.dataset_dir=" + d);
    o.push_back(r + ".dataset.image_dir=train");
    o.push_back(r + ".dataset.anno_path=annotations/instances_train.json");
    o.push_back(r + ".sample_transforms=[{type: ResizeImage, target_size: " + s + "}, {type: NormalizeImage}]");
    o.push_back(r + ".batch_size=4");
  }
  return o;
}

}  // namespace testutil
