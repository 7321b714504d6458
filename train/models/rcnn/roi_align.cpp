#include "train/models/rcnn/roi_align.h"

#include <torch/torch.h>

#include <cmath>

namespace compress {

namespace {
// Sample coordinates along one axis for every RoI: (R, out * sr), and the
// bilinear corners. Follows Detectron's bilinear_interpolate: a sample beyond
// [-1, size] contributes 0; one in [-1, 0) reads row 0; one at or past size - 1
// reads the last row.
struct Axis {
  torch::Tensor low, high;  // (R, P) int64 indices
  torch::Tensor frac;       // (R, P) weight of `high`
  torch::Tensor valid;      // (R, P) bool
};

Axis axis_samples(const torch::Tensor& start, const torch::Tensor& end, int64_t size, int64_t out, int64_t sr) {
  const auto extent = (end - start).clamp_min(1.0);                            // (R)
  const auto step = (extent / static_cast<double>(out * sr)).unsqueeze(1);     // (R, 1)
  const auto k = torch::arange(out * sr, start.options()).unsqueeze(0) + 0.5;  // (1, P)
  auto v = start.unsqueeze(1) + k * step;                                      // (R, P)
  Axis a;
  a.valid = (v >= -1.0) & (v <= static_cast<double>(size));
  v = v.clamp(0.0, static_cast<double>(size - 1));
  a.low = v.floor().to(torch::kLong);
  a.high = (a.low + 1).clamp_max(size - 1);
  a.frac = v - a.low.to(v.scalar_type());
  return a;
}
}  // namespace

torch::Tensor roi_align(const torch::Tensor& feat, const torch::Tensor& rois, const torch::Tensor& batch_idx,
                        double spatial_scale, int64_t resolution, int64_t sampling_ratio) {
  TORCH_CHECK(feat.dim() == 4, "roi_align: expected features (N, C, H, W), got ", feat.sizes());
  TORCH_CHECK(rois.dim() == 2 && rois.size(1) == 4 && batch_idx.dim() == 1 && batch_idx.size(0) == rois.size(0),
              "roi_align: expected rois (R, 4) and batch_idx (R), got ", rois.sizes(), " and ", batch_idx.sizes());
  TORCH_CHECK(resolution > 0 && sampling_ratio > 0, "roi_align: resolution and sampling_ratio must be positive");
  if (rois.size(0) == 0) return torch::zeros({0, feat.size(1), resolution, resolution}, feat.options());
  return feat.device().is_cpu()
             ? roi_align_cpu(feat, rois, batch_idx, spatial_scale, resolution, sampling_ratio)
             : roi_align_vectorized(feat, rois, batch_idx, spatial_scale, resolution, sampling_ratio);
}

torch::Tensor roi_align_vectorized(const torch::Tensor& feat, const torch::Tensor& rois, const torch::Tensor& batch_idx,
                                   double spatial_scale, int64_t resolution, int64_t sampling_ratio) {
  const int64_t N = feat.size(0), C = feat.size(1), H = feat.size(2), W = feat.size(3), R = rois.size(0);
  const int64_t P = resolution * sampling_ratio;
  if (R == 0) return torch::zeros({0, C, resolution, resolution}, feat.options());
  const auto r = rois.to(feat.scalar_type()) * spatial_scale;
  const Axis y = axis_samples(r.select(1, 1), r.select(1, 3), H, resolution, sampling_ratio);
  const Axis x = axis_samples(r.select(1, 0), r.select(1, 2), W, resolution, sampling_ratio);
  // Rows of the (N * H * W, C) feature table for each corner: (R, P, P).
  const auto base = (batch_idx.to(torch::kLong) * (H * W)).view({R, 1, 1});
  const auto flat = feat.permute({0, 2, 3, 1}).reshape({N * H * W, C});
  auto gather = [&](const torch::Tensor& yi, const torch::Tensor& xi) {  // -> (R, P, P, C)
    const auto idx = base + yi.unsqueeze(2) * W + xi.unsqueeze(1);
    return flat.index_select(0, idx.reshape({-1})).view({R, P, P, C});
  };
  const auto fy = y.frac.unsqueeze(2).unsqueeze(3),
             fx = x.frac.unsqueeze(1).unsqueeze(3);  // (R, P, 1, 1), (R, 1, P, 1)
  const auto top = gather(y.low, x.low) * (1 - fx) + gather(y.low, x.high) * fx;
  const auto bottom = gather(y.high, x.low) * (1 - fx) + gather(y.high, x.high) * fx;
  const auto valid = (y.valid.unsqueeze(2) & x.valid.unsqueeze(1)).unsqueeze(3).to(feat.scalar_type());
  const auto v = (top * (1 - fy) + bottom * fy) * valid;  // (R, P, P, C)
  // Average the sr x sr samples of each bin: (R, out, sr, out, sr, C) -> (R, C, out, out).
  return v.view({R, resolution, sampling_ratio, resolution, sampling_ratio, C}).mean({2, 4}).permute({0, 3, 1, 2});
}

torch::Tensor roi_levels(const torch::Tensor& rois, const RoIAlignOptions& o) {
  TORCH_CHECK(o.min_level <= o.max_level && o.canonical_size > 0, "roi_levels: bad levels ", o.min_level, "..",
              o.max_level, " or canonical size ", o.canonical_size);
  const auto w = (rois.select(1, 2) - rois.select(1, 0)).clamp_min(0);
  const auto h = (rois.select(1, 3) - rois.select(1, 1)).clamp_min(0);
  const auto scale = torch::sqrt(w * h);
  const auto lvl = torch::floor(o.canonical_level + torch::log2(scale / o.canonical_size + 1e-6));
  return lvl.clamp(o.min_level, o.max_level).to(torch::kLong);
}

torch::Tensor multilevel_roi_align(const std::vector<torch::Tensor>& feats, int64_t first_level,
                                   const torch::Tensor& rois, const torch::Tensor& batch_idx,
                                   const RoIAlignOptions& o) {
  TORCH_CHECK(o.min_level >= first_level && o.max_level < first_level + static_cast<int64_t>(feats.size()),
              "multilevel_roi_align: levels ", o.min_level, "..", o.max_level, " not among the ", feats.size(),
              " feature maps from level ", first_level);
  const int64_t R = rois.size(0), C = feats[0].size(1);
  auto out = torch::zeros({R, C, o.resolution, o.resolution}, feats[0].options());
  if (R == 0) return out;
  const auto levels = roi_levels(rois, o);
  for (int64_t l = o.min_level; l <= o.max_level; ++l) {
    const auto idx = torch::nonzero(levels == l).view({-1});
    if (idx.numel() == 0) continue;
    const auto pooled = roi_align(feats[l - first_level], rois.index_select(0, idx), batch_idx.index_select(0, idx),
                                  1.0 / std::pow(2.0, static_cast<double>(l)), o.resolution, o.sampling_ratio);
    out = out.index_copy(0, idx, pooled);  // out of place: autograd reaches every level
  }
  return out;
}

}  // namespace compress
