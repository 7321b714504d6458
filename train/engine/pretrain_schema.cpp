#include "train/engine/pretrain_schema.h"

namespace compress {

config::Field pretrain_schema() {
  using namespace config;
  return Section(
      {{"mnist_dir", Str("/usr/share/datasets/fashion-mnist", {}, "Fashion-MNIST idx files (Debian's)")},
       {"image_size", Int(64, "square crop side, pixels").at_least(32)},
       {"item_scale", FloatList({0.35, 1.0}, "[lo, hi]: item side / crop side, log-uniform")},
       {"batch_size", Int(64).at_least(1)},
       {"max_iters", Int(3000).at_least(0)},
       {"base_lr",
        Float(0.0, "0 = the recipe's LearningRate.base_lr; cosine decay after a linear warm-up").at_least(0)},
       {"warmup_steps", Int(100).at_least(0)},
       {"eval_items", Int(2000, "t10k items scored for top-1 at each snapshot; 0 = none").at_least(0)},
       {"snapshot_iter", Int(0, "0 = the recipe's snapshot_iter").at_least(0)}},
      "backbone pretraining on Fashion-MNIST item crops (`compress pretrain`), the stand-in for the "
      "reference's ImageNet-pretrained backbones; the recipe's optimizer and NormalizeImage apply");
}

}  // namespace compress
