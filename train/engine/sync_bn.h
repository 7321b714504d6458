// Synchronized BatchNorm for multi-process training: batch statistics over
// every rank's batch (one all-reduce of per-channel sums in the forward pass,
// one of the gradient sums in the backward pass), so W processes with batch
// B/W normalize exactly as one process with batch B. Installed through
// set_batch_norm_forward (train/models/layers.h) when `sync_bn: true`.
#pragma once
#include <torch/nn/modules/batchnorm.h>

namespace compress {

// (N, C, H, W) -> (N, C, H, W); updates bn's running statistics with the global ones.
torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

}  // namespace compress
