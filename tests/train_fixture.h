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

// Both readers on `dir`'s train split, resized to `size` and normalized, batch 4:
// the overfit setting (the model is evaluated on what it trained on).
inline void add_overfit_readers(std::vector<std::string>& o, const TempDir& dir, int size) {
  const std::string d = dir.path().string(), s = std::to_string(size);
  for (const std::string r : {"TrainReader", "EvalReader"}) {
    o.push_back(r + ".dataset.dataset_dir=" + d);
    o.push_back(r + ".dataset.image_dir=train");
    o.push_back(r + ".dataset.anno_path=annotations/instances_train.json");
    o.push_back(r + ".sample_transforms=[{type: ResizeImage, target_size: " + s + "}, {type: NormalizeImage}]");
    o.push_back(r + ".batch_size=4");
  }
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
  add_overfit_readers(o, dir, size);
  return o;
}

}  // namespace testutil

namespace testutil {

// YOLOv3 on MobileNetV3-Small x0.5 (the head keeps the reference widths) at
// `size` px, anchors scaled from 320 px, no augmentation, reading `dir` for both
// training and evaluation (the overfit setting).
inline std::vector<std::string> tiny_yolo_overrides(const TempDir& dir, int size) {
  const std::string d = dir.path().string(), s = std::to_string(size);
  std::string anchors = "YOLOv3Head.anchors=[";
  const double ref[9][2] = {{10, 13},  {16, 30},  {33, 23},   {30, 61},  {62, 45},
                            {59, 119}, {116, 90}, {156, 198}, {373, 326}};
  for (int k = 0; k < 9; ++k)
    anchors += (k ? ", [" : "[") + std::to_string(ref[k][0] * size / 320) + ", " +
               std::to_string(ref[k][1] * size / 320) + "]";
  anchors += "]";
  std::vector<std::string> o = {
      "architecture=YOLOv3",        "num_classes=10", "MobileNetV3.model_name=small", "MobileNetV3.scale=0.5",
      "MobileNetV3.conv_decay=0.0", anchors,          "save_dir=" + d + "/out",       "log_iter=10",
  };
  add_overfit_readers(o, dir, size);
  o.push_back("TrainReader.batch_transforms=[]");
  o.push_back("EvalReader.batch_transforms=[]");
  return o;
}

}  // namespace testutil

namespace testutil {

// Cascade R-CNN on MobileNetV3-Small x0.5 with a 16-channel FPN and 32-wide
// heads at `size` px, anchors and RoI levels scaled down, no augmentation,
// reading `dir` for both training and evaluation (the overfit setting).
inline std::vector<std::string> tiny_cascade_overrides(const TempDir& dir, int size) {
  const std::string d = dir.path().string();
  std::vector<std::string> o = {
      "architecture=CascadeRCNN",
      "num_classes=10",
      "use_gpu=false",
      "MobileNetV3.model_name=small",
      "MobileNetV3.scale=0.5",
      "MobileNetV3.feature_maps=[2, 3, 4]",
      "MobileNetV3.conv_decay=0.0",
      "MobileNetV3.lr_mult_list=[1.0]",
      "FPN.num_chan=16",
      "FPNRPNHead.num_chan=16",
      "FPNRPNHead.anchor_start_size=8",
      "FPNRPNHead.train_proposal={pre_nms_top_n: 200, post_nms_top_n: 100}",
      "FPNRoIAlign.canonical_size=28",
      "CascadeBBoxAssigner.batch_size_per_im=64",
      "CascadeBBoxHead.mlp_dim=32",
      "save_dir=" + d + "/out",
      "log_iter=10",
  };
  add_overfit_readers(o, dir, size);
  return o;
}

}  // namespace testutil
