#include "train/models/rcnn/sampler.h"

#include <torch/torch.h>

#include <algorithm>

namespace compress {

namespace {
// Keeps `keep` of the indices idx (I) at random; sets the others' labels to -1.
void drop_excess(torch::Tensor& labels, const torch::Tensor& idx, int64_t keep) {
  if (idx.numel() <= keep) return;
  const auto perm = torch::randperm(idx.numel(), torch::TensorOptions().dtype(torch::kLong));
  labels.index_fill_(0, idx.index_select(0, perm.slice(0, keep).to(idx.device())), -1);
}
}  // namespace

torch::Tensor sample_balanced(const torch::Tensor& labels_in, int64_t num, double fg_fraction) {
  TORCH_CHECK(labels_in.dim() == 1 && num > 0 && fg_fraction >= 0 && fg_fraction <= 1,
              "sample_balanced: expected labels (K), num > 0 and fg_fraction in [0, 1]");
  auto labels = labels_in.clone();
  const auto fg = torch::nonzero(labels > 0).view({-1});
  const int64_t max_fg = static_cast<int64_t>(static_cast<double>(num) * fg_fraction);
  drop_excess(labels, fg, max_fg);
  const int64_t n_fg = std::min<int64_t>(fg.numel(), max_fg);
  drop_excess(labels, torch::nonzero(labels == 0).view({-1}), num - n_fg);
  return labels;
}

}  // namespace compress
