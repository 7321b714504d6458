#include "compress/runtime/ops.h"

#include "compress/runtime/activation_int8.h"
#include "compress/runtime/kernel_util.h"
#include "compress/runtime/parallel.h"
#include "compress/runtime/simd_int8.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <set>
#include <stdexcept>
#include <type_traits>

namespace compress::runtime {

namespace {

template <class F>
ValuePtr unary(const Node& n, const std::vector<ValuePtr>& in, F f) {
  auto x = floats(n, in, 0);
  auto y = make_value(DType::f32, x->dims, x->nhwc);
  const float* a = x->data<float>();
  float* b = y->data<float>();
  const int64_t N = x->numel();
  for (int64_t k = 0; k < N; ++k) b[k] = f(a[k]);
  return y;
}

// Numpy broadcasting of two tensors of element type T into one of type R
// (row-major, any rank): the general path, for small and integer tensors.
template <class T, class R, class F>
ValuePtr broadcast(const Node& n, ValuePtr a, ValuePtr b, DType out, F f) {
  a = to_nchw(a);
  b = to_nchw(b);
  const size_t rank = std::max(a->dims.size(), b->dims.size());
  auto pad = [&](std::vector<int64_t> d) {
    d.insert(d.begin(), rank - d.size(), 1);
    return d;
  };
  const auto da = pad(a->dims), db = pad(b->dims);
  std::vector<int64_t> dy(rank);
  for (size_t k = 0; k < rank; ++k) {
    if (da[k] != db[k] && da[k] != 1 && db[k] != 1)
      bad(n, "cannot broadcast " + dims_str(a->dims) + " with " + dims_str(b->dims));
    dy[k] = da[k] == 1 ? db[k] : da[k];
  }
  auto sa = strides_of(da), sb = strides_of(db);
  for (size_t k = 0; k < rank; ++k) {
    if (da[k] == 1) sa[k] = 0;
    if (db[k] == 1) sb[k] = 0;
  }
  auto y = make_value(out, dy);
  const auto sy = strides_of(dy);
  const T *p = a->data<T>(), *q = b->data<T>();
  R* r = y->data<R>();
  const int64_t ny = y->numel();
  for (int64_t k = 0; k < ny; ++k) {
    int64_t rem = k, oa = 0, ob = 0;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t i = rem / sy[d];
      rem -= i * sy[d];
      oa += i * sa[d];
      ob += i * sb[d];
    }
    r[k] = static_cast<R>(f(p[oa], q[ob]));
  }
  return y;
}

// Numpy broadcasting of two float tensors.
template <class F>
ValuePtr binary(const Node& n, const std::vector<ValuePtr>& in, F f) {
  auto a = floats(n, in, 0), b = floats(n, in, 1);
  const int64_t na = a->numel(), nb = b->numel();
  // Fast paths that keep the layout: same shape and layout, or a scalar.
  if (a->dims == b->dims && a->nhwc == b->nhwc) {
    auto y = make_value(DType::f32, a->dims, a->nhwc);
    const float *p = a->data<float>(), *q = b->data<float>();
    float* r = y->data<float>();
    for (int64_t k = 0; k < na; ++k) r[k] = f(p[k], q[k]);
    return y;
  }
  if (nb == 1 && a->dims.size() >= b->dims.size()) {
    auto y = make_value(DType::f32, a->dims, a->nhwc);
    const float* p = a->data<float>();
    const float q = b->data<float>()[0];
    float* r = y->data<float>();
    for (int64_t k = 0; k < na; ++k) r[k] = f(p[k], q);
    return y;
  }
  if (na == 1 && b->dims.size() >= a->dims.size()) {
    auto y = make_value(DType::f32, b->dims, b->nhwc);
    const float p = a->data<float>()[0];
    const float* q = b->data<float>();
    float* r = y->data<float>();
    for (int64_t k = 0; k < nb; ++k) r[k] = f(p, q[k]);
    return y;
  }
  // A channels-last image times a per-channel [N, C, 1, 1] tensor (SE).
  auto per_channel = [](const ValuePtr& x, const ValuePtr& c) {
    return x->nhwc && c->dims.size() == 4 && c->dims[1] == x->dims[1] && c->dims[2] == 1 && c->dims[3] == 1 &&
           (c->dims[0] == x->dims[0] || c->dims[0] == 1);
  };
  if (per_channel(a, b) || per_channel(b, a)) {
    const bool a_big = per_channel(a, b);
    const auto& x = a_big ? a : b;
    const auto& c = a_big ? b : a;
    auto y = make_value(DType::f32, x->dims, true);
    const int64_t N = x->dims[0], C = x->dims[1], HW = x->dims[2] * x->dims[3];
    const float* p = x->data<float>();
    const float* q = c->data<float>();
    float* r = y->data<float>();
    for (int64_t i = 0; i < N; ++i) {
      const float* qc = q + (c->dims[0] == 1 ? 0 : i * C);
      for (int64_t h = 0; h < HW; ++h) {
        const int64_t o = (i * HW + h) * C;
        if (a_big)
          for (int64_t k = 0; k < C; ++k) r[o + k] = f(p[o + k], qc[k]);
        else
          for (int64_t k = 0; k < C; ++k) r[o + k] = f(qc[k], p[o + k]);
      }
    }
    return y;
  }
  return broadcast<float, float>(n, a, b, DType::f32, f);
}

// Add / Mul of two same-shape, same-layout float inputs (a residual sum that
// stays float) in one AVX-512 pass that reads lazy DequantizeLinear outputs
// as codes; nullptr where that does not apply (the general path then runs).
ValuePtr same_shape_simd(bool add, const Node& n, const std::vector<ValuePtr>& in) {
  if (!simd::avx512() || in.size() != 2 || !in[0] || !in[1]) return nullptr;
  const auto &a = in[0], &b = in[1];
  auto is_float = [](const ValuePtr& v) { return v->type == DType::f32 && (v->buf || v->deq_of); };
  if (!is_float(a) || !is_float(b) || a->dims != b->dims || a->nhwc != b->nhwc) return nullptr;
  auto y = make_value(DType::f32, a->dims, a->nhwc);
  const Operand oa = operand_of(a), ob = operand_of(b);
  float* r = y->data<float>();
  parallel_ranges(a->numel(),
                  [&](int64_t s, int64_t e) { simd::binary_float(add, offset(oa, s), offset(ob, s), r + s, e - s); });
  return y;
}

// Inputs 0 and 1, materialized, of one type.
std::pair<ValuePtr, ValuePtr> same_typed(const Node& n, const std::vector<ValuePtr>& in) {
  auto a = materialize(need(n, in, 0)), b = materialize(need(n, in, 1));
  if (a->type != b->type) bad(n, std::string("inputs of types ") + dtype_name(a->type) + " and " + dtype_name(b->type));
  return {a, b};
}

// Min / Max: float (with the fast paths) or int64 (the proposal count).
template <class F>
ValuePtr min_max(const Node& n, const std::vector<ValuePtr>& in, F f) {
  if (in.size() != 2) bad(n, "runs with two inputs");
  auto [a, b] = same_typed(n, in);
  if (a->type == DType::s64) return broadcast<int64_t, int64_t>(n, a, b, DType::s64, f);
  return binary(n, in, f);
}

// Equal / GreaterOrEqual -> bool, on float or int64 inputs.
template <class F>
ValuePtr compare(const Node& n, const std::vector<ValuePtr>& in, F f) {
  auto [a, b] = same_typed(n, in);
  if (a->type == DType::s64) return broadcast<int64_t, uint8_t>(n, a, b, DType::b8, f);
  if (a->type != DType::f32) bad(n, std::string("inputs of type ") + dtype_name(a->type));
  return broadcast<float, uint8_t>(n, a, b, DType::b8, f);
}

// The hot loops, built for AVX-512, AVX2 and baseline x86-64 (chosen at load).
__attribute__((target_clones("avx512f", "avx2", "default"))) void quantize_s8(const float* __restrict a,
                                                                              int8_t* __restrict b, int64_t n,
                                                                              float s) {
  for (int64_t k = 0; k < n; ++k)
    b[k] = static_cast<int8_t>(static_cast<int32_t>(quantize_one(a[k], s, -128.f, 127.f)));
}
__attribute__((target_clones("avx512f", "avx2", "default"))) void quantize_u8(const float* __restrict a,
                                                                              uint8_t* __restrict b, int64_t n,
                                                                              float s) {
  for (int64_t k = 0; k < n; ++k) b[k] = static_cast<uint8_t>(static_cast<int32_t>(quantize_one(a[k], s, 0.f, 255.f)));
}

ValuePtr quantize(const Node& n, const std::vector<ValuePtr>& in) {
  auto x = floats(n, in, 0);
  const float s = scalar(n, in, 1, 1.f);
  int32_t zp = 0;
  DType t = DType::u8;
  if (in.size() > 2 && in[2]) {
    if (in[2]->numel() != 1) bad(n, "only per-tensor activation quantization runs (zero point must be a scalar)");
    t = in[2]->type;
    zp = t == DType::u8 ? in[2]->data<uint8_t>()[0] : in[2]->data<int8_t>()[0];
  }
  if (!(s > 0)) bad(n, "scale must be positive");
  if (t != DType::u8 && t != DType::s8) bad(n, "zero point type must be uint8 or int8");
  // uint8 with zero point 128 is stored as int8 codes (code - 128).
  const bool as_s8 = t == DType::s8 || zp == 128;
  if (t == DType::u8 && zp != 0 && zp != 128) bad(n, "a uint8 zero point of " + std::to_string(zp) + " (0 or 128 run)");
  if (t == DType::s8 && zp != 0) bad(n, "an int8 zero point of " + std::to_string(zp) + " (0 runs)");
  auto y = make_value(as_s8 ? DType::s8 : DType::u8, x->dims, x->nhwc);
  y->quantized = true;
  y->scale = s;
  y->zp = zp;
  const float* a = x->data<float>();
  const int64_t N = x->numel();
  if (simd::avx512()) {
    void* q = y->buf->data();
    parallel_ranges(N,
                    [&](int64_t b, int64_t e) { simd::quantize(a + b, static_cast<char*>(q) + b, as_s8, e - b, s); });
  } else if (as_s8) {
    int8_t* q = y->data<int8_t>();
    parallel_ranges(N, [&](int64_t b, int64_t e) { quantize_s8(a + b, q + b, e - b, s); });
  } else {
    uint8_t* q = y->data<uint8_t>();
    parallel_ranges(N, [&](int64_t b, int64_t e) { quantize_u8(a + b, q + b, e - b, s); });
  }
  return y;
}

// DequantizeLinear: lazily for a quantized activation; at once (per axis) for
// constants and integer tensors.
ValuePtr dequantize(const Node& n, const std::vector<ValuePtr>& in) {
  const auto& x = need(n, in, 0);
  auto sv = floats(n, in, 1);
  if (x->quantized) {
    // Lazily, with this node's own scale and zero point (usually the Q's).
    if (sv->numel() != 1) bad(n, "a per-axis scale for an activation");
    int32_t zp = 0;
    if (in.size() > 2 && in[2]) zp = in[2]->type == DType::u8 ? in[2]->data<uint8_t>()[0] : in[2]->data<int8_t>()[0];
    auto y = std::make_shared<Value>();
    y->type = DType::f32;
    y->dims = x->dims;
    y->nhwc = x->nhwc;
    y->deq_of = x;
    y->scale = sv->data<float>()[0];
    y->zp = zp;
    return y;
  }
  auto xs = to_nchw(x);
  const int64_t N = xs->numel();
  int64_t axis = n.i("axis", 1);
  if (axis < 0) axis += static_cast<int64_t>(xs->dims.size());
  const int64_t C = sv->numel();
  int64_t inner = 1;
  if (C > 1) {
    if (axis >= static_cast<int64_t>(xs->dims.size()) || xs->dims[axis] != C)
      bad(n, "scale length is not the axis length");
    for (size_t k = axis + 1; k < xs->dims.size(); ++k) inner *= xs->dims[k];
  }
  std::vector<int64_t> zps(C, 0);
  if (in.size() > 2 && in[2]) {
    auto z = to_nchw(in[2]);
    for (int64_t c = 0; c < C && c < z->numel(); ++c)
      zps[c] = z->type == DType::u8   ? z->data<uint8_t>()[c]
               : z->type == DType::s8 ? z->data<int8_t>()[c]
                                      : z->data<int32_t>()[c];
  }
  auto y = make_value(DType::f32, xs->dims);
  float* r = y->data<float>();
  const float* s = sv->data<float>();
  for (int64_t k = 0; k < N; ++k) {
    const int64_t c = C > 1 ? (k / inner) % C : 0;
    int64_t q = 0;
    switch (xs->type) {
      case DType::u8:
        q = xs->data<uint8_t>()[k];
        break;
      case DType::s8:
        q = xs->data<int8_t>()[k];
        break;
      case DType::s32:
        q = xs->data<int32_t>()[k];
        break;
      default:
        bad(n, "input type " + std::string(dtype_name(xs->type)));
    }
    r[k] = static_cast<float>(q - zps[c]) * s[c];
  }
  return y;
}

// Sums of an NHWC image's channels [c0, c1) over its HW pixels, pixel by pixel
// (each channel's sum in the pixels' order, as a plain loop adds them); codes
// are dequantized on the fly, s * (q - zp), the value DequantizeLinear gives.
template <class T>
__attribute__((target_clones("avx512f", "avx2", "default"))) void channel_sums_nhwc(const T* __restrict x, float s,
                                                                                    int32_t zp, float* __restrict r,
                                                                                    int64_t HW, int64_t C, int64_t c0,
                                                                                    int64_t c1) {
  for (int64_t c = c0; c < c1; ++c) r[c] = 0.f;
  for (int64_t p = 0; p < HW; ++p)
    for (int64_t c = c0; c < c1; ++c) {
      if constexpr (std::is_same_v<T, float>)
        r[c] += x[p * C + c];
      else
        r[c] += s * static_cast<float>(static_cast<int32_t>(x[p * C + c]) - zp);
    }
}

ValuePtr global_average_pool(const Node& n, const std::vector<ValuePtr>& in) {
  const auto& v = need(n, in, 0);
  if (v->dims.size() != 4) bad(n, "expects a 4-D input");
  const int64_t N = v->dims[0], C = v->dims[1], HW = v->dims[2] * v->dims[3];
  auto y = make_value(DType::f32, {N, C, 1, 1});
  float* r = y->data<float>();
  // Channels-last codes, an int8 h-swish's codes (value.h; made floats first
  // where the CPU lacks its kernel) or floats: channel ranges across the
  // threads, read in place.
  const bool lazy = v->hswish && !v->buf && simd::avx512_vbmi();
  if (v->hswish && !lazy) materialize(v);
  const bool codes = v->deq_of && !v->buf;
  const Value* q = codes ? v->deq_of.get() : v.get();
  if (q->nhwc && (codes ? q->type == DType::s8 || q->type == DType::u8 : q->type == DType::f32)) {
    const Operand o = operand_of(v, lazy);
    for (int64_t i = 0; i < N; ++i) {
      const Operand oi = offset(o, i * HW * C);
      float* ri = r + i * C;
      parallel_ranges(
          C,
          [&](int64_t c0, int64_t c1) {
            if (simd::avx512()) return simd::channel_sums(oi, ri, HW, C, c0, c1);
            if (oi.type == DType::f32)
              channel_sums_nhwc(static_cast<const float*>(oi.p), oi.scale, oi.zp, ri, HW, C, c0, c1);
            else if (oi.type == DType::s8)
              channel_sums_nhwc(static_cast<const int8_t*>(oi.p), oi.scale, oi.zp, ri, HW, C, c0, c1);
            else
              channel_sums_nhwc(static_cast<const uint8_t*>(oi.p), oi.scale, oi.zp, ri, HW, C, c0, c1);
          },
          16, HW);
    }
  } else {  // NCHW (channels-last codes and floats took the branch above)
    const auto x = to_nchw(floats(n, in, 0));
    const float* a = x->data<float>();
    std::fill(r, r + N * C, 0.f);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t p = 0; p < HW; ++p) r[i * C + c] += a[(i * C + c) * HW + p];
  }
  for (int64_t k = 0; k < N * C; ++k) r[k] /= static_cast<float>(HW);
  return y;
}

ValuePtr max_pool(const Node& n, const std::vector<ValuePtr>& in) {
  auto x = to_nchw(floats(n, in, 0));
  const auto k = n.ints("kernel_shape"), s = n.ints("strides", {1, 1}), p = n.ints("pads", {0, 0, 0, 0});
  if (k.size() != 2) bad(n, "expects a 2-D kernel_shape");
  const int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
  const int64_t OH = (H + p[0] + p[2] - k[0]) / s[0] + 1, OW = (W + p[1] + p[3] - k[1]) / s[1] + 1;
  auto y = make_value(DType::f32, {N, C, OH, OW});
  const float* a = x->data<float>();
  float* r = y->data<float>();
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t i = 0; i < k[0]; ++i)
          for (int64_t j = 0; j < k[1]; ++j) {
            const int64_t h = oh * s[0] - p[0] + i, w = ow * s[1] - p[1] + j;
            if (h >= 0 && h < H && w >= 0 && w < W) m = std::max(m, a[(nc * H + h) * W + w]);
          }
        r[(nc * OH + oh) * OW + ow] = m;
      }
  return y;
}

ValuePtr concat(const Node& n, const std::vector<ValuePtr>& in) {
  std::vector<ValuePtr> xs;
  for (size_t k = 0; k < in.size(); ++k) {
    xs.push_back(materialize(need(n, in, k)));
    if (xs[k]->type != xs[0]->type) bad(n, "inputs of different types");
  }
  const int64_t rank = static_cast<int64_t>(xs[0]->dims.size());
  int64_t axis = n.i("axis", 0);
  if (axis < 0) axis += rank;
  bool all_nhwc = rank == 4 && axis == 1;
  for (const auto& x : xs) all_nhwc = all_nhwc && x->nhwc;
  if (!all_nhwc)
    for (auto& x : xs) x = to_nchw(x);
  std::vector<int64_t> dy = xs[0]->dims;
  dy[axis] = 0;
  for (const auto& x : xs) {
    if (static_cast<int64_t>(x->dims.size()) != rank) bad(n, "inputs of different ranks");
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && x->dims[d] != xs[0]->dims[d]) bad(n, "inputs differ off the concat axis");
    dy[axis] += x->dims[axis];
  }
  auto y = make_value(xs[0]->type, dy, all_nhwc);
  // Codes on one grid concatenate into codes on that grid (a Concat whose
  // QuantizeLinear was moved in front of its inputs).
  if (xs[0]->quantized) {
    for (const auto& x : xs)
      if (!x->quantized || x->scale != xs[0]->scale || x->zp != xs[0]->zp) bad(n, "inputs of different grids");
    y->quantized = true;
    y->scale = xs[0]->scale;
    y->zp = xs[0]->zp;
  }
  // Channels-last concat on C is a concat on the innermost dim of [N*H*W, C].
  int64_t outer = 1, inner = 1;
  if (all_nhwc) {
    outer = dy[0] * dy[2] * dy[3];
  } else {
    for (int64_t d = 0; d < axis; ++d) outer *= dy[d];
    for (int64_t d = axis + 1; d < rank; ++d) inner *= dy[d];
  }
  const size_t es = dtype_size(y->type);
  uint8_t* r = y->buf->data();
  const int64_t row = dy[axis] * inner;
  int64_t off = 0;
  for (const auto& x : xs) {
    const int64_t len = x->dims[axis] * inner;
    const uint8_t* a = x->buf->data();
    for (int64_t o = 0; o < outer; ++o) std::memcpy(r + (o * row + off) * es, a + o * len * es, len * es);
    off += len;
  }
  return y;
}

ValuePtr reshape(const Node& n, const std::vector<ValuePtr>& in) {
  auto x = to_nchw(need(n, in, 0));
  auto shape = int_list(n, need(n, in, 1));
  int64_t known = 1, infer = -1;
  for (size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] == 0 && !n.i("allowzero", 0)) shape[k] = x->dims.at(k);
    if (shape[k] == -1)
      infer = static_cast<int64_t>(k);
    else
      known *= shape[k];
  }
  if (infer >= 0) shape[infer] = known ? x->numel() / known : 0;
  auto y = std::make_shared<Value>(*x);
  y->dims = shape;
  y->nhwc = false;
  if (y->numel() != x->numel()) bad(n, "cannot reshape " + dims_str(x->dims) + " to " + dims_str(shape));
  return y;
}

ValuePtr flatten(const Node& n, const std::vector<ValuePtr>& in) {
  auto x = to_nchw(need(n, in, 0));
  int64_t axis = n.i("axis", 1);
  if (axis < 0) axis += static_cast<int64_t>(x->dims.size());
  int64_t a = 1;
  for (int64_t d = 0; d < axis; ++d) a *= x->dims[d];
  auto y = std::make_shared<Value>(*x);
  y->dims = {a, a ? x->numel() / a : 0};
  return y;
}

ValuePtr transpose(const Node& n, const std::vector<ValuePtr>& in) {
  auto x0 = materialize(need(n, in, 0));
  const int64_t rank = static_cast<int64_t>(x0->dims.size());
  auto perm = n.ints("perm");
  if (perm.empty())
    for (int64_t d = rank - 1; d >= 0; --d) perm.push_back(d);
  // NCHW -> NHWC of a channels-last tensor: the bytes already are the answer.
  if (x0->nhwc && perm == std::vector<int64_t>{0, 2, 3, 1}) {
    auto y = std::make_shared<Value>(*x0);
    y->dims = {x0->dims[0], x0->dims[2], x0->dims[3], x0->dims[1]};
    y->nhwc = false;
    return y;
  }
  auto x = to_nchw(x0);
  std::vector<int64_t> dy(rank);
  for (int64_t d = 0; d < rank; ++d) dy[d] = x->dims[perm[d]];
  auto y = make_value(x->type, dy);
  const auto sx = strides_of(x->dims);
  std::vector<int64_t> src(rank);
  for (int64_t d = 0; d < rank; ++d) src[d] = sx[perm[d]];
  copy_strided(*x, *y, src);
  return y;
}

ValuePtr softmax(const Node& n, const std::vector<ValuePtr>& in) {
  auto x = to_nchw(floats(n, in, 0));
  const int64_t rank = static_cast<int64_t>(x->dims.size());
  int64_t axis = n.i("axis", -1);
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x->dims[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x->dims[d];
  const int64_t L = x->dims[axis];
  auto y = make_value(DType::f32, x->dims);
  const float* a = x->data<float>();
  float* r = y->data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * L * inner + i;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t l = 0; l < L; ++l) m = std::max(m, a[base + l * inner]);
      float sum = 0;
      for (int64_t l = 0; l < L; ++l) sum += (r[base + l * inner] = std::exp(a[base + l * inner] - m));
      for (int64_t l = 0; l < L; ++l) r[base + l * inner] /= sum;
    }
  return y;
}

// Nearest-neighbour Resize (asymmetric, floor), the YOLOv3 upsample.
ValuePtr resize(const Node& n, const std::vector<ValuePtr>& in) {
  // Floats, or codes (a Concat's input quantized in front of it): a nearest
  // resize only moves elements, so it moves codes as well.
  const auto& raw = need(n, in, 0);
  auto x = raw->quantized ? raw : floats(n, in, 0);
  if (n.s("mode", "nearest") != "nearest") bad(n, "only mode 'nearest' runs");
  if (n.s("coordinate_transformation_mode", "half_pixel") != "asymmetric" ||
      n.s("nearest_mode", "round_prefer_floor") != "floor")
    bad(n, "only coordinate_transformation_mode 'asymmetric' with nearest_mode 'floor' runs");
  if (x->dims.size() != 4) bad(n, "expects a 4-D input");
  std::vector<int64_t> dy = x->dims;
  std::vector<float> sc(4, 1.f);
  if (in.size() > 3 && in[3]) {
    dy = int_list(n, in[3]);
    for (int d = 0; d < 4; ++d) sc[d] = static_cast<float>(dy[d]) / static_cast<float>(x->dims[d]);
  } else {
    auto s = floats(n, in, 2);
    if (s->numel() != 4) bad(n, "expects 4 scales");
    for (int d = 0; d < 4; ++d) {
      sc[d] = s->data<float>()[d];
      dy[d] = static_cast<int64_t>(std::floor(x->dims[d] * sc[d]));
    }
  }
  if (dy[0] != x->dims[0] || dy[1] != x->dims[1]) bad(n, "only spatial resizing runs");
  auto y = make_value(x->type, dy, x->nhwc);
  y->quantized = x->quantized;
  y->scale = x->scale;
  y->zp = x->zp;
  const int64_t N = dy[0], C = dy[1], H = x->dims[2], W = x->dims[3], OH = dy[2], OW = dy[3];
  // Typed, so that the NCHW path copies one element with a plain load and store.
  auto gather = [&](auto* r, const auto* a) {
    for (int64_t i = 0; i < N; ++i)
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t h = std::min<int64_t>(H - 1, static_cast<int64_t>(std::floor(oh / sc[2])));
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t w = std::min<int64_t>(W - 1, static_cast<int64_t>(std::floor(ow / sc[3])));
          if (x->nhwc)
            std::copy_n(a + ((i * H + h) * W + w) * C, C, r + ((i * OH + oh) * OW + ow) * C);
          else
            for (int64_t c = 0; c < C; ++c) r[((i * C + c) * OH + oh) * OW + ow] = a[((i * C + c) * H + h) * W + w];
        }
      }
  };
  if (dtype_size(x->type) == 1)
    gather(y->buf->data(), static_cast<const uint8_t*>(x->buf->data()));
  else
    gather(y->data<float>(), x->data<float>());
  return y;
}

ValuePtr slice(const Node& n, const std::vector<ValuePtr>& in) {
  auto x = to_nchw(materialize(need(n, in, 0)));
  const int64_t rank = static_cast<int64_t>(x->dims.size());
  auto starts = int_list(n, need(n, in, 1)), ends = int_list(n, need(n, in, 2));
  std::vector<int64_t> axes, steps;
  if (in.size() > 3 && in[3]) axes = int_list(n, in[3]);
  if (in.size() > 4 && in[4]) steps = int_list(n, in[4]);
  if (axes.empty())
    for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
  std::vector<int64_t> lo(rank, 0), step(rank, 1), dy = x->dims;
  for (size_t k = 0; k < axes.size(); ++k) {
    int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
    const int64_t D = x->dims[a];
    const int64_t st = steps.empty() ? 1 : steps[k];
    if (st != 1) bad(n, "only step 1 runs");
    int64_t b = starts[k] < 0 ? starts[k] + D : starts[k], e = ends[k] < 0 ? ends[k] + D : ends[k];
    b = std::clamp<int64_t>(b, 0, D);
    e = std::clamp<int64_t>(e, 0, D);
    lo[a] = b;
    dy[a] = std::max<int64_t>(0, e - b);
  }
  auto y = make_value(x->type, dy);
  const auto sx = strides_of(x->dims), sy = strides_of(dy);
  const size_t es = dtype_size(x->type);
  // Copy runs of the innermost dim.
  const int64_t inner = dy[rank - 1], rows = inner ? y->numel() / inner : 0;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t rem = r * inner, o = 0;
    for (int64_t d = 0; d < rank; ++d) {
      const int64_t i = rem / sy[d];
      rem -= i * sy[d];
      o += (i + lo[d]) * sx[d];
    }
    std::memcpy(y->buf->data() + r * inner * es, x->buf->data() + o * es, inner * es);
  }
  return y;
}

ValuePtr gather(const Node& n, const std::vector<ValuePtr>& in) {
  auto x = to_nchw(materialize(need(n, in, 0)));
  const auto idx_v = need(n, in, 1);
  const auto idx = int_list(n, idx_v);
  const int64_t rank = static_cast<int64_t>(x->dims.size());
  int64_t axis = n.i("axis", 0);
  if (axis < 0) axis += rank;
  std::vector<int64_t> dy;
  for (int64_t d = 0; d < axis; ++d) dy.push_back(x->dims[d]);
  for (auto d : idx_v->dims) dy.push_back(d);
  for (int64_t d = axis + 1; d < rank; ++d) dy.push_back(x->dims[d]);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x->dims[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x->dims[d];
  const int64_t D = x->dims[axis];
  auto y = make_value(x->type, dy);
  const size_t es = dtype_size(x->type);
  for (int64_t o = 0; o < outer; ++o)
    for (size_t j = 0; j < idx.size(); ++j) {
      int64_t i = idx[j] < 0 ? idx[j] + D : idx[j];
      if (i < 0 || i >= D) bad(n, "index " + std::to_string(idx[j]) + " out of range");
      std::memcpy(y->buf->data() + ((o * idx.size() + j) * inner) * es, x->buf->data() + ((o * D + i) * inner) * es,
                  inner * es);
    }
  return y;
}

ValuePtr shape(const Node& n, const std::vector<ValuePtr>& in) {
  const auto& x = need(n, in, 0);
  auto y = make_value(DType::s64, {static_cast<int64_t>(x->dims.size())});
  std::memcpy(y->buf->data(), x->dims.data(), x->dims.size() * 8);
  return y;
}

// A one-output kernel as a table entry.
template <class F>
Kernel one(F f) {
  return [f](const Node& n, const std::vector<ValuePtr>& in) { return std::vector<ValuePtr>{f(n, in)}; };
}

KernelTable make_table() {
  const std::map<std::string, std::function<ValuePtr(const Node&, const std::vector<ValuePtr>&)>> single = {
      {"Relu", [](const Node& n, const auto& in) { return unary(n, in, [](float x) { return x > 0 ? x : 0.f; }); }},
      {"Sigmoid",
       [](const Node& n, const auto& in) { return unary(n, in, [](float x) { return 1.f / (1.f + std::exp(-x)); }); }},
      {"Exp", [](const Node& n, const auto& in) { return unary(n, in, [](float x) { return std::exp(x); }); }},
      {"LeakyRelu",
       [](const Node& n, const auto& in) {
         const float a = n.f("alpha", 0.01f);
         return unary(n, in, [a](float x) { return x >= 0 ? x : a * x; });
       }},
      {"HardSigmoid",
       [](const Node& n, const auto& in) {
         const float a = n.f("alpha", 0.2f), b = n.f("beta", 0.5f);
         return unary(n, in, [a, b](float x) { return std::clamp(a * x + b, 0.f, 1.f); });
       }},
      {"Clip",
       [](const Node& n, const auto& in) {
         const float lo = scalar(n, in, 1, -std::numeric_limits<float>::infinity());
         const float hi = scalar(n, in, 2, std::numeric_limits<float>::infinity());
         return unary(n, in, [lo, hi](float x) { return std::clamp(x, lo, hi); });
       }},
      {"Identity", [](const Node& n, const auto& in) { return materialize(need(n, in, 0)); }},
      {"Add",
       [](const Node& n, const auto& in) {
         if (auto y = same_shape_simd(true, n, in)) return y;
         return binary(n, in, [](float a, float b) { return a + b; });
       }},
      {"Sub", [](const Node& n, const auto& in) { return binary(n, in, [](float a, float b) { return a - b; }); }},
      {"Mul",
       [](const Node& n, const auto& in) {
         if (auto y = same_shape_simd(false, n, in)) return y;
         return binary(n, in, [](float a, float b) { return a * b; });
       }},
      {"Div", [](const Node& n, const auto& in) { return binary(n, in, [](float a, float b) { return a / b; }); }},
      {"QuantizeLinear", quantize},
      {"DequantizeLinear", dequantize},
      {"GlobalAveragePool", global_average_pool},
      {"MaxPool", max_pool},
      {"Concat", concat},
      {"Reshape", reshape},
      {"Flatten", flatten},
      {"Transpose", transpose},
      {"Softmax", softmax},
      {"Resize", resize},
      {"Slice", slice},
      {"Gather", gather},
      {"Shape", shape},
      {"Sqrt", [](const Node& n, const auto& in) { return unary(n, in, [](float x) { return std::sqrt(x); }); }},
      {"Log", [](const Node& n, const auto& in) { return unary(n, in, [](float x) { return std::log(x); }); }},
      {"Floor", [](const Node& n, const auto& in) { return unary(n, in, [](float x) { return std::floor(x); }); }},
      {"Min",
       [](const Node& n, const auto& in) { return min_max(n, in, [](auto a, auto b) { return std::min(a, b); }); }},
      {"Max",
       [](const Node& n, const auto& in) { return min_max(n, in, [](auto a, auto b) { return std::max(a, b); }); }},
      {"Equal", [](const Node& n, const auto& in) { return compare(n, in, [](auto a, auto b) { return a == b; }); }},
      {"GreaterOrEqual",
       [](const Node& n, const auto& in) { return compare(n, in, [](auto a, auto b) { return a >= b; }); }},
      {"And",
       [](const Node& n, const auto& in) {
         auto [a, b] = same_typed(n, in);
         if (a->type != DType::b8) bad(n, "inputs must be bool");
         return broadcast<uint8_t, uint8_t>(n, a, b, DType::b8, [](uint8_t x, uint8_t y) { return x && y; });
       }},
  };
  KernelTable t;
  for (const auto& [op, f] : single) t[op] = one(f);
  add_detection_kernels(t);
  return t;
}

const KernelTable& kernels() {
  static const KernelTable k = make_table();
  return k;
}

}  // namespace

bool supported_op(const std::string& op) { return kernels().count(op) > 0; }

std::vector<ValuePtr> run_node(const Node& n, const std::vector<ValuePtr>& in) {
  auto it = kernels().find(n.op);
  if (it == kernels().end()) bad(n, "the runtime has no kernel for this op");
  auto out = it->second(n, in);
  if (out.size() != n.outputs.size())
    bad(n, "has " + std::to_string(n.outputs.size()) + " outputs; the kernel writes " + std::to_string(out.size()));
  return out;
}

}  // namespace compress::runtime
