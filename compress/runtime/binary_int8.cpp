#include "compress/runtime/binary_int8.h"

#include <type_traits>

#include "compress/runtime/activation_int8.h"
#include "compress/runtime/ops.h"
#include "compress/runtime/parallel.h"
#include "compress/runtime/simd_int8.h"

namespace compress::runtime {

namespace {

// Element k as a float: the code dequantized, as a DequantizeLinear does.
template <class T>
inline float load(const T* p, int64_t k, float s, int32_t zp) {
  if constexpr (std::is_same_v<T, float>)
    return p[k];
  else
    return s * static_cast<float>(static_cast<int32_t>(p[k]) - zp);
}

template <class Out>
constexpr float out_lo() {
  return std::is_same_v<Out, int8_t> ? -128.f : 0.f;
}
template <class Out>
constexpr float out_hi() {
  return std::is_same_v<Out, int8_t> ? 127.f : 255.f;
}

template <bool Add, class A, class B, class Out>
__attribute__((target_clones("avx512f", "avx2", "default"))) void same_shape(const A* __restrict a, float sa,
                                                                             int32_t za, const B* __restrict b,
                                                                             float sb, int32_t zb, Out* __restrict y,
                                                                             int64_t n, float s) {
  for (int64_t k = 0; k < n; ++k) {
    const float u = load(a, k, sa, za), w = load(b, k, sb, zb);
    const float v = Add ? u + w : u * w;
    y[k] = static_cast<Out>(static_cast<int32_t>(quantize_one(v, s, out_lo<Out>(), out_hi<Out>())));
  }
}

template <bool Add, class A, class Out>
void same_shape_b(const A* a, const Operand& oa, const Operand& ob, Out* y, int64_t n, float s) {
  switch (ob.type) {
    case DType::s8:
      return same_shape<Add>(a, oa.scale, oa.zp, static_cast<const int8_t*>(ob.p), ob.scale, ob.zp, y, n, s);
    case DType::u8:
      return same_shape<Add>(a, oa.scale, oa.zp, static_cast<const uint8_t*>(ob.p), ob.scale, ob.zp, y, n, s);
    default:
      return same_shape<Add>(a, oa.scale, oa.zp, static_cast<const float*>(ob.p), ob.scale, ob.zp, y, n, s);
  }
}

template <bool Add, class Out>
void same_shape_range(const Operand& oa, const Operand& ob, Out* y, int64_t n, float s) {
  switch (oa.type) {
    case DType::s8:
      return same_shape_b<Add>(static_cast<const int8_t*>(oa.p), oa, ob, y, n, s);
    case DType::u8:
      return same_shape_b<Add>(static_cast<const uint8_t*>(oa.p), oa, ob, y, n, s);
    default:
      return same_shape_b<Add>(static_cast<const float*>(oa.p), oa, ob, y, n, s);
  }
}

template <bool Add, class Out>
void same_shape_ab(const Operand& oa, const Operand& ob, Out* y, int64_t n, float s) {
  if (simd::avx512()) {
    parallel_ranges(n, [&](int64_t b, int64_t e) {
      simd::binary(Add, offset(oa, b), offset(ob, b), y + b, std::is_same_v<Out, int8_t>, e - b, s);
    });
    return;
  }
  parallel_ranges(n,
                  [&](int64_t b, int64_t e) { same_shape_range<Add>(offset(oa, b), offset(ob, b), y + b, e - b, s); });
}

// y[p, c] = x[p, c] * g[c] over P pixels of one NHWC image (the SE gate; x
// the Mul's first input when x_first).
template <class X, class Out>
__attribute__((target_clones("avx512f", "avx2", "default"))) void per_channel_mul(const X* __restrict x, float sx,
                                                                                  int32_t zx, const float* __restrict g,
                                                                                  Out* __restrict y, int64_t P,
                                                                                  int64_t C, bool x_first, float s) {
  for (int64_t p = 0; p < P; ++p) {
    const int64_t o = p * C;
    for (int64_t c = 0; c < C; ++c) {
      const float xv = load(x, o + c, sx, zx);
      const float v = x_first ? xv * g[c] : g[c] * xv;
      y[o + c] = static_cast<Out>(static_cast<int32_t>(quantize_one(v, s, out_lo<Out>(), out_hi<Out>())));
    }
  }
}

template <class Out>
void per_channel_any(const Operand& ox, const float* g, bool batched, bool x_first, Out* y, int64_t N, int64_t HW,
                     int64_t C, float s) {
  // Image by image, its pixels split across the threads (whole pixels: a range of C-long rows).
  for (int64_t i = 0; i < N; ++i) {
    const float* gi = g + (batched ? i * C : 0);
    parallel_ranges(
        HW,
        [&](int64_t b, int64_t e) {
          const Operand o = offset(ox, (i * HW + b) * C);
          Out* yo = y + (i * HW + b) * C;
          if (simd::avx512())
            return simd::per_channel_mul(o, gi, x_first, yo, std::is_same_v<Out, int8_t>, e - b, C, s);
          switch (o.type) {
            case DType::s8:
              return per_channel_mul(static_cast<const int8_t*>(o.p), o.scale, o.zp, gi, yo, e - b, C, x_first, s);
            case DType::u8:
              return per_channel_mul(static_cast<const uint8_t*>(o.p), o.scale, o.zp, gi, yo, e - b, C, x_first, s);
            default:
              return per_channel_mul(static_cast<const float*>(o.p), o.scale, o.zp, gi, yo, e - b, C, x_first, s);
          }
        },
        1, C);
  }
}

}  // namespace

ValuePtr QuantizedBinary::run(const ValuePtr& a, const ValuePtr& b, const std::vector<ValuePtr>& q_inputs) const {
  const bool add = op->op == "Add";
  const bool s8 = out_zp != 0;
  auto make_out = [&](const ValuePtr& like) {
    auto y = make_value(s8 ? DType::s8 : DType::u8, like->dims, like->nhwc);
    y->quantized = true;
    y->scale = out_scale;
    y->zp = out_zp;
    return y;
  };
  auto is_float = [](const ValuePtr& v) { return v->type == DType::f32 && (v->buf || v->deq_of); };
  if (is_float(a) && is_float(b)) {
    if (a->dims == b->dims && a->nhwc == b->nhwc) {
      auto y = make_out(a);
      const int64_t n = a->numel();
      // An int8 h-swish's codes read as its floats where the CPU has the
      // kernel (one of the two operands; the other is made floats).
      const bool lazy = simd::avx512_vbmi();
      const Operand oa = operand_of(a, lazy), ob = operand_of(b, lazy && !a->hswish);
      if (add && s8)
        same_shape_ab<true>(oa, ob, y->data<int8_t>(), n, out_scale);
      else if (add)
        same_shape_ab<true>(oa, ob, y->data<uint8_t>(), n, out_scale);
      else if (s8)
        same_shape_ab<false>(oa, ob, y->data<int8_t>(), n, out_scale);
      else
        same_shape_ab<false>(oa, ob, y->data<uint8_t>(), n, out_scale);
      return y;
    }
    // SE: an NHWC image times its [N or 1, C, 1, 1] gate: floats, or codes
    // (a gate rounded after its hard-sigmoid, quant.round_after_activation),
    // whose C floats are made once, as the DequantizeLinear makes them.
    auto gate = [](const ValuePtr& x, const ValuePtr& g) {
      return x->nhwc && g->dims.size() == 4 && g->dims[1] == x->dims[1] && g->dims[2] == 1 && g->dims[3] == 1 &&
             (g->dims[0] == x->dims[0] || g->dims[0] == 1);
    };
    if (!add && (gate(a, b) || gate(b, a))) {
      const bool x_first = gate(a, b);
      const auto& x = x_first ? a : b;
      const auto g = materialize(x_first ? b : a);
      auto y = make_out(x);
      const int64_t N = x->dims[0], C = x->dims[1], HW = x->dims[2] * x->dims[3];
      const bool batched = g->dims[0] != 1;
      const Operand ox = operand_of(x, simd::avx512_vbmi());
      if (s8)
        per_channel_any(ox, g->data<float>(), batched, x_first, y->data<int8_t>(), N, HW, C, out_scale);
      else
        per_channel_any(ox, g->data<float>(), batched, x_first, y->data<uint8_t>(), N, HW, C, out_scale);
      return y;
    }
  }
  // Any other case: the two nodes as they are.
  const auto v = run_node(*op, {a, b})[0];
  std::vector<ValuePtr> in = {v};
  in.insert(in.end(), q_inputs.begin(), q_inputs.end());
  return run_node(*quantize, in)[0];
}

}  // namespace compress::runtime
