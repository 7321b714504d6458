// The ops of Cascade R-CNN's sparse part, as ONNX Runtime computes them (same
// tie-breaking, same float arithmetic), so that the proposals and the pooled
// RoIs are the same boxes in both engines:
//   TopK               values and int64 indices; ties go to the lower index
//   NonZero            (rank, nnz) int64 indices of the nonzero elements
//   NonMaxSuppression  greedy, best score first (ties: lower index), IoU > t suppresses
//   RoiAlign           opset 10 (Detectron's: no half-pixel offset, RoI sides >= 1 cell), avg
//   ScatterND          rows of `updates` written at `indices`
//   Gemm               Y = alpha A B + beta C through oneDNN's sgemm
//   Expand             numpy broadcasting to a shape
#include <dnnl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "compress/runtime/kernel_util.h"

namespace compress::runtime {
namespace {

int64_t axis_of(const Node& n, int64_t rank, int64_t dflt) {
  int64_t a = n.i("axis", dflt);
  if (a < 0) a += rank;
  if (a < 0 || a >= rank) bad(n, "axis " + std::to_string(n.i("axis", dflt)) + " for rank " + std::to_string(rank));
  return a;
}

// X (float, any rank), K (int64 [1]) -> values (float), indices (int64), the k
// largest (or smallest) along `axis`, sorted.
std::vector<ValuePtr> top_k(const Node& n, const std::vector<ValuePtr>& in) {
  auto x = to_nchw(floats(n, in, 0));
  const auto kv = int_list(n, need(n, in, 1));
  if (kv.size() != 1) bad(n, "K must hold one value");
  const int64_t rank = static_cast<int64_t>(x->dims.size());
  const int64_t axis = axis_of(n, rank, -1);
  const int64_t D = x->dims[axis], k = kv[0];
  if (k < 0 || k > D) bad(n, "K = " + std::to_string(k) + " for an axis of " + std::to_string(D));
  if (!n.i("sorted", 1)) bad(n, "only sorted = 1 runs");
  const bool largest = n.i("largest", 1) != 0;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x->dims[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x->dims[d];
  auto dy = x->dims;
  dy[axis] = k;
  auto values = make_value(DType::f32, dy), indices = make_value(DType::s64, dy);
  const float* a = x->data<float>();
  float* v = values->data<float>();
  int64_t* ix = indices->data<int64_t>();
  std::vector<int64_t> order(D);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const float* row = a + o * D * inner + i;
      std::iota(order.begin(), order.end(), 0);
      auto before = [&](int64_t p, int64_t q) {
        const float vp = row[p * inner], vq = row[q * inner];
        if (vp != vq) return largest ? vp > vq : vp < vq;
        return p < q;
      };
      std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
      for (int64_t j = 0; j < k; ++j) {
        const int64_t at = o * k * inner + j * inner + i;
        v[at] = row[order[j] * inner];
        ix[at] = order[j];
      }
    }
  return {values, indices};
}

std::vector<ValuePtr> non_zero(const Node& n, const std::vector<ValuePtr>& in) {
  auto x = to_nchw(materialize(need(n, in, 0)));
  const int64_t N = x->numel(), rank = static_cast<int64_t>(x->dims.size());
  std::vector<int64_t> at;
  auto nonzero = [&](int64_t k) {
    switch (x->type) {
      case DType::f32:
        return x->data<float>()[k] != 0.f;
      case DType::s64:
        return x->data<int64_t>()[k] != 0;
      case DType::s32:
        return x->data<int32_t>()[k] != 0;
      default:
        return x->buf->data()[k] != 0;  // bool, uint8, int8
    }
  };
  for (int64_t k = 0; k < N; ++k)
    if (nonzero(k)) at.push_back(k);
  const int64_t nnz = static_cast<int64_t>(at.size());
  auto y = make_value(DType::s64, {std::max<int64_t>(rank, 1), nnz});
  int64_t* r = y->data<int64_t>();
  const auto st = strides_of(x->dims);
  for (int64_t j = 0; j < nnz; ++j) {
    int64_t rem = at[j];
    if (rank == 0) r[j] = 0;
    for (int64_t d = 0; d < rank; ++d) {
      r[d * nnz + j] = rem / st[d];
      rem -= r[d * nnz + j] * st[d];
    }
  }
  return {y};
}

// ONNX Runtime's SuppressByIOU for center_point_box 0: corners in either
// order, first the extent along coordinates 1 / 3, then 0 / 2.
bool suppress(const float* a, const float* b, float iou_threshold) {
  auto span = [](float p, float q) { return std::make_pair(std::min(p, q), std::max(p, q)); };
  const auto [a1lo, a1hi] = span(a[1], a[3]);
  const auto [b1lo, b1hi] = span(b[1], b[3]);
  const float i1lo = std::max(a1lo, b1lo), i1hi = std::min(a1hi, b1hi);
  if (i1hi <= i1lo) return false;
  const auto [a0lo, a0hi] = span(a[0], a[2]);
  const auto [b0lo, b0hi] = span(b[0], b[2]);
  const float i0lo = std::max(a0lo, b0lo), i0hi = std::min(a0hi, b0hi);
  if (i0hi <= i0lo) return false;
  const float inter = (i1hi - i1lo) * (i0hi - i0lo);
  if (inter <= 0) return false;
  const float area_a = (a1hi - a1lo) * (a0hi - a0lo), area_b = (b1hi - b1lo) * (b0hi - b0lo);
  const float uni = area_a + area_b - inter;
  if (area_a <= 0 || area_b <= 0 || uni <= 0) return false;
  return inter / uni > iou_threshold;
}

// boxes (B, N, 4), scores (B, C, N), max per class, IoU threshold, score
// threshold -> (selected, 3) int64 rows (batch, class, box).
std::vector<ValuePtr> non_max_suppression(const Node& n, const std::vector<ValuePtr>& in) {
  if (n.i("center_point_box", 0) != 0) bad(n, "only center_point_box = 0 runs");
  auto boxes = to_nchw(floats(n, in, 0)), scores = to_nchw(floats(n, in, 1));
  if (boxes->dims.size() != 3 || boxes->dims[2] != 4 || scores->dims.size() != 3 || scores->dims[0] != boxes->dims[0] ||
      scores->dims[2] != boxes->dims[1])
    bad(n, "boxes " + dims_str(boxes->dims) + " and scores " + dims_str(scores->dims) +
               " are not (B, N, 4) and (B, C, N)");
  int64_t max_out = 0;
  if (given(in, 2)) {
    const auto m = int_list(n, in[2]);
    if (m.size() != 1) bad(n, "max_output_boxes_per_class must hold one value");
    max_out = m[0];
  }
  const float iou = scalar(n, in, 3, 0.f);
  const bool has_threshold = given(in, 4);
  const float score_threshold = scalar(n, in, 4, 0.f);
  const int64_t B = boxes->dims[0], N = boxes->dims[1], C = scores->dims[1];
  std::vector<int64_t> rows;
  std::vector<int64_t> order;
  std::vector<int64_t> kept;
  for (int64_t b = 0; b < B && max_out > 0; ++b)
    for (int64_t c = 0; c < C; ++c) {
      const float* s = scores->data<float>() + (b * C + c) * N;
      const float* bx = boxes->data<float>() + b * N * 4;
      order.clear();
      for (int64_t i = 0; i < N; ++i)
        if (!has_threshold || s[i] > score_threshold) order.push_back(i);
      std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) { return s[p] > s[q]; });
      kept.clear();
      for (int64_t i : order) {
        if (static_cast<int64_t>(kept.size()) >= max_out) break;
        bool keep = true;
        for (int64_t j : kept)
          if (suppress(bx + j * 4, bx + i * 4, iou)) {
            keep = false;
            break;
          }
        if (!keep) continue;
        kept.push_back(i);
        rows.insert(rows.end(), {b, c, i});
      }
    }
  auto y = make_value(DType::s64, {static_cast<int64_t>(rows.size() / 3), 3});
  if (!rows.empty()) std::memcpy(y->buf->data(), rows.data(), rows.size() * 8);
  return {y};
}

// One sampling point of ONNX Runtime's RoiAlign: four corner offsets (in
// pixels of one channel plane) and their bilinear weights.
struct Sample {
  int64_t pos[4] = {0, 0, 0, 0};
  float w[4] = {0, 0, 0, 0};
};

Sample bilinear(float y, float x, int64_t H, int64_t W) {
  Sample s;
  if (y < -1.0f || y > static_cast<float>(H) || x < -1.0f || x > static_cast<float>(W)) return s;  // all weights 0
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  int64_t y_lo = static_cast<int64_t>(y), x_lo = static_cast<int64_t>(x), y_hi, x_hi;
  if (y_lo >= H - 1) {
    y_hi = y_lo = H - 1;
    y = static_cast<float>(y_lo);
  } else {
    y_hi = y_lo + 1;
  }
  if (x_lo >= W - 1) {
    x_hi = x_lo = W - 1;
    x = static_cast<float>(x_lo);
  } else {
    x_hi = x_lo + 1;
  }
  const float ly = y - static_cast<float>(y_lo), lx = x - static_cast<float>(x_lo), hy = 1.f - ly, hx = 1.f - lx;
  s.pos[0] = y_lo * W + x_lo;
  s.pos[1] = y_lo * W + x_hi;
  s.pos[2] = y_hi * W + x_lo;
  s.pos[3] = y_hi * W + x_hi;
  s.w[0] = hy * hx;
  s.w[1] = hy * lx;
  s.w[2] = ly * hx;
  s.w[3] = ly * lx;
  return s;
}

// X (N, C, H, W), rois (R, 4) xyxy, batch_indices (R) -> (R, C, oh, ow).
// A channels-last X is read in place: each sample reads four C-vectors.
std::vector<ValuePtr> roi_align(const Node& n, const std::vector<ValuePtr>& in) {
  if (n.s("mode", "avg") != "avg") bad(n, "only mode 'avg' runs");
  if (n.s("coordinate_transformation_mode", "output_half_pixel") != "output_half_pixel")
    bad(n, "only coordinate_transformation_mode 'output_half_pixel' (opset 10's) runs");
  auto x = floats(n, in, 0);
  auto rois = to_nchw(floats(n, in, 1));
  const auto batch = int_list(n, need(n, in, 2));
  if (x->dims.size() != 4) bad(n, "X must be 4-D, got " + dims_str(x->dims));
  if (rois->dims.size() != 2 || rois->dims[1] != 4 || static_cast<int64_t>(batch.size()) != rois->dims[0])
    bad(n, "rois " + dims_str(rois->dims) + " with " + std::to_string(batch.size()) + " batch indices");
  const int64_t C = x->dims[1], H = x->dims[2], W = x->dims[3], R = rois->dims[0];
  const int64_t OH = n.i("output_height", 1), OW = n.i("output_width", 1), ratio = n.i("sampling_ratio", 0);
  const float scale = n.f("spatial_scale", 1.f);
  auto y = make_value(DType::f32, {R, C, OH, OW});
  float* out = y->data<float>();
  const float* a = x->data<float>();
  std::vector<float> acc(C);
  std::vector<Sample> samples;
  for (int64_t r = 0; r < R; ++r) {
    const int64_t b = batch[r];
    if (b < 0 || b >= x->dims[0]) bad(n, "batch index " + std::to_string(b) + " out of range");
    const float* roi = rois->data<float>() + r * 4;
    const float x0 = roi[0] * scale, y0 = roi[1] * scale, x1 = roi[2] * scale, y1 = roi[3] * scale;
    const float rw = std::max(x1 - x0, 1.f), rh = std::max(y1 - y0, 1.f);
    const float bin_h = rh / static_cast<float>(OH), bin_w = rw / static_cast<float>(OW);
    const int64_t gh = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rh / static_cast<float>(OH)));
    const int64_t gw = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rw / static_cast<float>(OW)));
    const float count = static_cast<float>(std::max<int64_t>(gh * gw, 1));
    const float* plane = a + b * C * H * W;
    for (int64_t ph = 0; ph < OH; ++ph)
      for (int64_t pw = 0; pw < OW; ++pw) {
        samples.clear();
        for (int64_t iy = 0; iy < gh; ++iy) {
          const float yy =
              y0 + static_cast<float>(ph) * bin_h + static_cast<float>(iy + .5f) * bin_h / static_cast<float>(gh);
          for (int64_t ix = 0; ix < gw; ++ix) {
            const float xx =
                x0 + static_cast<float>(pw) * bin_w + static_cast<float>(ix + .5f) * bin_w / static_cast<float>(gw);
            samples.push_back(bilinear(yy, xx, H, W));
          }
        }
        float* o = out + (r * C * OH + ph) * OW + pw;  // channel c at o[c * OH * OW]
        if (x->nhwc) {
          std::fill(acc.begin(), acc.end(), 0.f);
          for (const auto& s : samples) {
            const float *v0 = plane + s.pos[0] * C, *v1 = plane + s.pos[1] * C, *v2 = plane + s.pos[2] * C,
                        *v3 = plane + s.pos[3] * C;
            for (int64_t c = 0; c < C; ++c) acc[c] += s.w[0] * v0[c] + s.w[1] * v1[c] + s.w[2] * v2[c] + s.w[3] * v3[c];
          }
          for (int64_t c = 0; c < C; ++c) o[c * OH * OW] = acc[c] / count;
        } else {
          for (int64_t c = 0; c < C; ++c) {
            const float* p = plane + c * H * W;
            float v = 0;
            for (const auto& s : samples)
              v += s.w[0] * p[s.pos[0]] + s.w[1] * p[s.pos[1]] + s.w[2] * p[s.pos[2]] + s.w[3] * p[s.pos[3]];
            o[c * OH * OW] = v / count;
          }
        }
      }
  }
  return {y};
}

// data, indices (..., k), updates -> data with the slices at indices replaced.
std::vector<ValuePtr> scatter_nd(const Node& n, const std::vector<ValuePtr>& in) {
  if (n.s("reduction", "none") != "none") bad(n, "only reduction 'none' runs");
  auto data = to_nchw(materialize(need(n, in, 0)));
  auto upd = to_nchw(materialize(need(n, in, 2)));
  const auto& iv = need(n, in, 1);
  const auto idx = int_list(n, iv);
  if (upd->type != data->type) bad(n, "updates and data differ in type");
  if (iv->dims.empty()) bad(n, "indices must have at least one dim");
  const int64_t k = iv->dims.back(), rank = static_cast<int64_t>(data->dims.size());
  if (k < 1 || k > rank) bad(n, "index tuples of " + std::to_string(k) + " for rank " + std::to_string(rank));
  const int64_t tuples = k ? static_cast<int64_t>(idx.size()) / k : 0;
  int64_t slice = 1;
  for (int64_t d = k; d < rank; ++d) slice *= data->dims[d];
  if (upd->numel() != tuples * slice) bad(n, "updates " + dims_str(upd->dims) + " for " + dims_str(iv->dims));
  auto y = make_value(data->type, data->dims);
  const size_t es = dtype_size(data->type);
  std::memcpy(y->buf->data(), data->buf->data(), data->bytes());
  const auto st = strides_of(data->dims);
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = 0;
    for (int64_t d = 0; d < k; ++d) {
      int64_t i = idx[t * k + d];
      if (i < 0) i += data->dims[d];
      if (i < 0 || i >= data->dims[d]) bad(n, "index " + std::to_string(idx[t * k + d]) + " out of range");
      off += i * st[d];
    }
    std::memcpy(y->buf->data() + off * es, upd->buf->data() + t * slice * es, slice * es);
  }
  return {y};
}

// A (M, K) or its transpose, B (K, N) or its transpose, C broadcast to (M, N).
std::vector<ValuePtr> gemm(const Node& n, const std::vector<ValuePtr>& in) {
  auto a = to_nchw(floats(n, in, 0)), b = to_nchw(floats(n, in, 1));
  if (a->dims.size() != 2 || b->dims.size() != 2)
    bad(n, "A " + dims_str(a->dims) + " and B " + dims_str(b->dims) + " must be 2-D");
  const bool ta = n.i("transA", 0) != 0, tb = n.i("transB", 0) != 0;
  const int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
  const int64_t N = tb ? b->dims[0] : b->dims[1], Kb = tb ? b->dims[1] : b->dims[0];
  if (K != Kb) bad(n, "A " + dims_str(a->dims) + " and B " + dims_str(b->dims) + " do not chain");
  const float alpha = n.f("alpha", 1.f);
  float beta = n.f("beta", 1.f);
  auto y = make_value(DType::f32, {M, N});
  float* r = y->data<float>();
  if (given(in, 2)) {  // C, broadcast: scalar, (N), (1, N), (M, 1) or (M, N)
    auto c = to_nchw(floats(n, in, 2));
    const auto& d = c->dims;
    const int64_t cm = d.size() == 2 ? d[0] : 1, cn = d.empty() ? 1 : d.back();
    if (d.size() > 2 || (cm != 1 && cm != M) || (cn != 1 && cn != N))
      bad(n, "C " + dims_str(d) + " does not broadcast to " + dims_str({M, N}));
    const float* p = c->data<float>();
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) r[i * N + j] = p[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
  } else {
    beta = 0;
  }
  if (M == 0 || N == 0) return {y};
  if (K == 0) {
    for (int64_t k = 0; k < M * N; ++k) r[k] *= beta;
    return {y};
  }
  const auto st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, a->data<float>(), a->dims[1],
                             b->data<float>(), b->dims[1], beta, r, N);
  if (st != dnnl_success) bad(n, "oneDNN sgemm failed (status " + std::to_string(static_cast<int>(st)) + ")");
  return {y};
}

// input, shape (int64) -> input broadcast to the shape (numpy rules).
std::vector<ValuePtr> expand(const Node& n, const std::vector<ValuePtr>& in) {
  auto x = to_nchw(materialize(need(n, in, 0)));
  const auto shape = int_list(n, need(n, in, 1));
  const size_t rank = std::max(x->dims.size(), shape.size());
  auto dx = x->dims, ds = shape;
  dx.insert(dx.begin(), rank - dx.size(), 1);
  ds.insert(ds.begin(), rank - ds.size(), 1);
  std::vector<int64_t> dy(rank);
  for (size_t d = 0; d < rank; ++d) {
    if (dx[d] != ds[d] && dx[d] != 1 && ds[d] != 1)
      bad(n, "cannot expand " + dims_str(x->dims) + " to " + dims_str(shape));
    dy[d] = dx[d] == 1 ? ds[d] : dx[d];
  }
  auto y = make_value(x->type, dy);
  auto sx = strides_of(dx);
  for (size_t d = 0; d < rank; ++d)
    if (dx[d] == 1) sx[d] = 0;
  copy_strided(*x, *y, sx);
  return {y};
}

}  // namespace

void add_detection_kernels(KernelTable& t) {
  t["TopK"] = top_k;
  t["NonZero"] = non_zero;
  t["NonMaxSuppression"] = non_max_suppression;
  t["RoiAlign"] = roi_align;
  t["ScatterND"] = scatter_nd;
  t["Gemm"] = gemm;
  t["Expand"] = expand;
}

}  // namespace compress::runtime
