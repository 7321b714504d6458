// RoIAlign (He et al., Mask R-CNN) as the reference's roi_align (no half-pixel
// offset): each of the out x out bins averages sampling_ratio^2 bilinear
// samples spread evenly over the bin; a RoI is at least 1 x 1 feature pixels.
// Features get gradients; RoI coordinates do not (as in Detectron).
#pragma once
#include <torch/types.h>

#include <vector>

namespace compress {

struct RoIAlignOptions {
  int64_t resolution = 7, sampling_ratio = 2;
  int64_t min_level = 2, max_level = 5;  // FPN levels RoIs are pooled from
  int64_t canonical_level = 3;           // a RoI of canonical_size^2 area is pooled from this level
  double canonical_size = 112;
};

// feat (N, C, H, W); rois (R, 4) xyxy input pixels; batch_idx (R) int64 ->
// (R, C, resolution, resolution).
// CPU tensors run roi_align_cpu, others roi_align_vectorized.
torch::Tensor roi_align(const torch::Tensor& feat, const torch::Tensor& rois, const torch::Tensor& batch_idx,
                        double spatial_scale, int64_t resolution, int64_t sampling_ratio);
// Its two implementations, with the same arguments (checked by roi_align):
// loops over CPU memory with a hand-written backward (roi_align_cpu.cpp), and
// ATen ops on any device, differentiable through index_select: it gathers four
// (R, P, P, C) corner tensors and is ~4x slower on the CPU.
torch::Tensor roi_align_cpu(const torch::Tensor& feat, const torch::Tensor& rois, const torch::Tensor& batch_idx,
                            double spatial_scale, int64_t resolution, int64_t sampling_ratio);
torch::Tensor roi_align_vectorized(const torch::Tensor& feat, const torch::Tensor& rois, const torch::Tensor& batch_idx,
                                   double spatial_scale, int64_t resolution, int64_t sampling_ratio);

// The FPN level of each RoI (R) int64: floor(canonical_level + log2(sqrt(area) / canonical_size)),
// clamped to [min_level, max_level].
torch::Tensor roi_levels(const torch::Tensor& rois, const RoIAlignOptions& o);

// Pools each RoI from its level. feats[k] is level first_level + k at stride
// 2^level; -> (R, C, resolution, resolution) in the order of rois.
torch::Tensor multilevel_roi_align(const std::vector<torch::Tensor>& feats, int64_t first_level,
                                   const torch::Tensor& rois, const torch::Tensor& batch_idx, const RoIAlignOptions& o);

}  // namespace compress
