// roi_align_cpu: Detectron's RoIAlign kernel as loops over raw CPU memory, with
// a feature-gradient backward, wrapped as an autograd Function. The vectorized
// form (roi_align.cpp) materializes four (R, P, P, C) corner gathers; these
// loops touch each sample once and run ~4x faster. RoI coordinates get no
// gradient, as in Detectron: the model never asks for one.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include "train/models/rcnn/roi_align.h"

namespace compress {
namespace {

// One bilinear sample: four feature offsets within an (H, W) plane and their
// weights; an out-of-range sample has zero weights.
template <typename T>
struct Sample {
  int64_t off[4] = {0, 0, 0, 0};
  T w[4] = {0, 0, 0, 0};
};

// Per axis: the low / high cell and the high cell's weight of each of the P
// samples, and whether it lies in [-1, size] (Detectron's bilinear_interpolate).
template <typename T>
void axis_samples(T start, T end, int64_t size, int64_t P, std::vector<int64_t>& lo, std::vector<int64_t>& hi,
                  std::vector<T>& frac, std::vector<char>& valid) {
  const T step = std::max(end - start, T(1)) / static_cast<T>(P);
  for (int64_t k = 0; k < P; ++k) {
    T v = start + (static_cast<T>(k) + T(0.5)) * step;
    valid[k] = v >= T(-1) && v <= static_cast<T>(size);
    if (v <= 0) v = 0;
    int64_t l = static_cast<int64_t>(v), h;
    if (l >= size - 1) {
      h = l = size - 1;
      v = static_cast<T>(l);
    } else {
      h = l + 1;
    }
    lo[k] = l, hi[k] = h, frac[k] = v - static_cast<T>(l);
  }
}

// All samples of all RoIs: (R, out, out, sr, sr) in that order.
template <typename T>
std::vector<Sample<T>> precompute(const T* rois, int64_t R, int64_t H, int64_t W, double scale, int64_t out,
                                  int64_t sr) {
  const int64_t P = out * sr;
  std::vector<Sample<T>> s(static_cast<size_t>(R * P * P));
  at::parallel_for(0, R, 1, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> ylo(P), yhi(P), xlo(P), xhi(P);
    std::vector<T> fy(P), fx(P);
    std::vector<char> vy(P), vx(P);
    for (int64_t r = begin; r < end; ++r) {
      const T* b = rois + r * 4;
      const T sc = static_cast<T>(scale);
      axis_samples<T>(b[1] * sc, b[3] * sc, H, P, ylo, yhi, fy, vy);
      axis_samples<T>(b[0] * sc, b[2] * sc, W, P, xlo, xhi, fx, vx);
      Sample<T>* o = s.data() + r * P * P;
      for (int64_t ph = 0; ph < out; ++ph)
        for (int64_t pw = 0; pw < out; ++pw)
          for (int64_t iy = 0; iy < sr; ++iy)
            for (int64_t ix = 0; ix < sr; ++ix, ++o) {
              const int64_t k = ph * sr + iy, j = pw * sr + ix;
              if (!vy[k] || !vx[j]) continue;
              const T ly = fy[k], lx = fx[j], hy = 1 - ly, hx = 1 - lx;
              o->off[0] = ylo[k] * W + xlo[j], o->off[1] = ylo[k] * W + xhi[j];
              o->off[2] = yhi[k] * W + xlo[j], o->off[3] = yhi[k] * W + xhi[j];
              o->w[0] = hy * hx, o->w[1] = hy * lx, o->w[2] = ly * hx, o->w[3] = ly * lx;
            }
    }
  });
  return s;
}

struct RoIAlignFn : torch::autograd::Function<RoIAlignFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& feat_in,
                               const torch::Tensor& rois_in, const torch::Tensor& bidx_in, double scale, int64_t out,
                               int64_t sr) {
    const auto feat = feat_in.contiguous();
    const auto rois = rois_in.to(feat.scalar_type()).contiguous();
    const auto bidx = bidx_in.to(torch::kLong).contiguous();
    const int64_t C = feat.size(1), H = feat.size(2), W = feat.size(3), R = rois.size(0), S = sr * sr;
    auto y = torch::zeros({R, C, out, out}, feat.options());
    AT_DISPATCH_FLOATING_TYPES(feat.scalar_type(), "roi_align_cpu", [&] {
      const auto samples = precompute<scalar_t>(rois.data_ptr<scalar_t>(), R, H, W, scale, out, sr);
      const scalar_t* f = feat.data_ptr<scalar_t>();
      const int64_t* b = bidx.data_ptr<int64_t>();
      scalar_t* o = y.data_ptr<scalar_t>();
      at::parallel_for(0, R * C, 16, [&](int64_t begin, int64_t end) {
        for (int64_t rc = begin; rc < end; ++rc) {
          const int64_t r = rc / C, c = rc % C;
          const scalar_t* plane = f + (b[r] * C + c) * H * W;
          const Sample<scalar_t>* s = samples.data() + r * out * out * S;
          scalar_t* dst = o + rc * out * out;
          for (int64_t bin = 0; bin < out * out; ++bin) {
            scalar_t sum = 0;
            for (int64_t k = 0; k < S; ++k, ++s)
              sum += s->w[0] * plane[s->off[0]] + s->w[1] * plane[s->off[1]] + s->w[2] * plane[s->off[2]] +
                     s->w[3] * plane[s->off[3]];
            dst[bin] = sum / static_cast<scalar_t>(S);
          }
        }
      });
    });
    ctx->save_for_backward({rois, bidx});
    ctx->saved_data["shape"] = feat.sizes().vec();
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["out"] = out;
    ctx->saved_data["sr"] = sr;
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& rois = saved[0];
    const auto& bidx = saved[1];
    const auto shape = ctx->saved_data["shape"].toIntVector();
    const double scale = ctx->saved_data["scale"].toDouble();
    const int64_t out = ctx->saved_data["out"].toInt(), sr = ctx->saved_data["sr"].toInt();
    const int64_t C = shape[1], H = shape[2], W = shape[3], R = rois.size(0), S = sr * sr;
    const auto g = grads[0].contiguous();
    auto gf = torch::zeros(shape, g.options());
    AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "roi_align_cpu_backward", [&] {
      const auto samples = precompute<scalar_t>(rois.data_ptr<scalar_t>(), R, H, W, scale, out, sr);
      const scalar_t* gy = g.data_ptr<scalar_t>();
      const int64_t* b = bidx.data_ptr<int64_t>();
      scalar_t* dst = gf.data_ptr<scalar_t>();
      // By channel: the RoIs of one channel write one set of planes, so no two
      // threads write the same element.
      at::parallel_for(0, C, 1, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c)
          for (int64_t r = 0; r < R; ++r) {
            scalar_t* plane = dst + (b[r] * C + c) * H * W;
            const scalar_t* grad = gy + (r * C + c) * out * out;
            const Sample<scalar_t>* s = samples.data() + r * out * out * S;
            for (int64_t bin = 0; bin < out * out; ++bin) {
              const scalar_t v = grad[bin] / static_cast<scalar_t>(S);
              for (int64_t k = 0; k < S; ++k, ++s)
                for (int q = 0; q < 4; ++q) plane[s->off[q]] += v * s->w[q];
            }
          }
      });
    });
    return {gf, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor roi_align_cpu(const torch::Tensor& feat, const torch::Tensor& rois, const torch::Tensor& batch_idx,
                            double spatial_scale, int64_t resolution, int64_t sampling_ratio) {
  TORCH_CHECK(feat.device().is_cpu(), "roi_align_cpu: features on ", feat.device(), ", expected the CPU");
  const auto N = feat.size(0);
  if (batch_idx.numel() > 0) {
    const auto lo = batch_idx.min().item<int64_t>(), hi = batch_idx.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < N, "roi_align: batch index ", lo < 0 ? lo : hi, " outside the ", N, " images");
  }
  return RoIAlignFn::apply(feat, rois.detach(), batch_idx, spatial_scale, resolution, sampling_ratio);
}

}  // namespace compress
