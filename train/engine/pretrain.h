// `compress pretrain`: trains a detector recipe's backbone as a Fashion-MNIST
// item classifier, so that detection training starts from a backbone that has
// seen the classes (the reference starts from ImageNet-pretrained backbones).
// Each iteration draws its items and crops from (seed, iteration), so a resumed
// run continues with the very batches the killed one would have seen.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "train/data/fashion_items.h"
#include "train/data/normalization.h"
#include "train/models/backbone_classifier.h"

namespace compress {

class Config;

struct PretrainOptions {
  std::string resume;    // a pretrain run's latest.pt
  std::string run_dir;   // default: save_dir / <config stem>_backbone
  int64_t stop_at = -1;  // tests: return after this iteration's step, as a killed run (no final snapshot)
};

struct PretrainResult {
  std::string run_dir;
  int64_t iters = 0;
  double top1 = -1;  // on the first pretrain.eval_items t10k items; -1 = not scored
};

PretrainResult run_pretrain(const Config& cfg, const PretrainOptions& o);

// Crops of `indices`, crop k drawn with seeds[k], as the model's input:
// (N, 3, S, S) float RGB normalized like the recipe's reader.
torch::Tensor item_batch(const FashionItems& items, const std::vector<int>& indices, const ItemCropOptions& crop,
                         const Normalization& norm, const std::vector<uint64_t>& seeds);
// The same with seeds[k] = mix_seed(seed, k).
torch::Tensor item_batch(const FashionItems& items, const std::vector<int>& indices, const ItemCropOptions& crop,
                         const Normalization& norm, uint64_t seed);

// Share of items [0, count) classified right, crops fixed by `seed` and unflipped.
double top1_accuracy(BackboneClassifier& model, const FashionItems& items, int count, ItemCropOptions crop,
                     const Normalization& norm, int batch_size, uint64_t seed = 0);

}  // namespace compress
