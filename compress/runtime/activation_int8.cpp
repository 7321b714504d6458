#include "compress/runtime/activation_int8.h"

#include "compress/runtime/parallel.h"
#include "compress/runtime/simd_int8.h"

#include <array>
#include <stdexcept>
#include <type_traits>

namespace compress::runtime {

namespace {
// The h-swish's hard-sigmoid code of the dequantized value y: Q(y + 3; 6/255).
inline int32_t hsig_code(const Int8Activation& h, float y) {
  return static_cast<int32_t>(quantize_one(y + h.three, h.relu6_scale, 0.f, 255.f));
}

// Built for AVX-512, AVX2 and baseline x86-64, chosen at load time (the
// binary stays portable; this machine's AVX-512 does 16 lanes).
template <class In, class Out>
__attribute__((target_clones("avx512f", "avx2", "default"))) void kernel(const In* __restrict x, Out* __restrict out,
                                                                         int64_t n, const Int8Activation& h,
                                                                         int32_t zp) {
  for (int64_t k = 0; k < n; ++k) {
    const float y = h.in_scale * static_cast<float>(static_cast<int32_t>(x[k]) - zp);
    float o;
    if (h.kind == Int8Activation::Kind::leaky_relu) {
      o = y >= 0 ? y : h.alpha * y;  // as the float LeakyRelu (ops.cpp)
    } else {
      const float hs = h.hsigmoid_scale * static_cast<float>(hsig_code(h, y));
      o = y * hs;
    }
    if constexpr (std::is_same_v<Out, float>) {
      out[k] = o;
    } else if constexpr (std::is_same_v<Out, int8_t>) {
      out[k] = static_cast<int8_t>(static_cast<int32_t>(quantize_one(o, h.out_scale, -128.f, 127.f)));
    } else {
      out[k] = static_cast<uint8_t>(static_cast<int32_t>(quantize_one(o, h.out_scale, 0.f, 255.f)));
    }
  }
}

void lookup(const uint8_t* in, uint8_t* out, int64_t n, const uint8_t* table) {
  if (simd::avx512_vbmi()) return simd::lookup_bytes(in, out, n, table);
  for (int64_t k = 0; k < n; ++k) out[k] = table[in[k]];
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void lookup_float(const uint8_t* __restrict in,
                                                                               float* __restrict out, int64_t n,
                                                                               const float* __restrict table) {
  for (int64_t k = 0; k < n; ++k) out[k] = table[in[k]];
}

// The activation's tables for input type In with zero point zp (of the
// stored codes), each entry computed by the scalar kernel: the same codes.
template <class In>
const Int8Activation::Tables& tables_for(const Int8Activation& h, int32_t zp) {
  auto& t = h.tables;
  const int key = (std::is_same_v<In, int8_t> ? 1024 : 0) + 512 + zp;
  if (t.key == key) return t;
  std::array<In, 256> all;
  for (int v = 0; v < 256; ++v) all[v] = static_cast<In>(static_cast<uint8_t>(v));
  if (!h.quantize_output && h.kind == Int8Activation::Kind::hard_swish) {
    auto hs = std::make_shared<HardSwishOnCodes>();
    hs->hsig_scale = h.hsigmoid_scale;
    for (int v = 0; v < 256; ++v) {
      const float y = h.in_scale * static_cast<float>(static_cast<int32_t>(all[v]) - zp);
      hs->hsig[v] = static_cast<uint8_t>(hsig_code(h, y));
    }
    t.hswish = std::move(hs);
  } else if (!h.quantize_output) {
    kernel(all.data(), t.floats.data(), 256, h, zp);
  } else if (h.out_zp != 0) {
    std::array<int8_t, 256> c;
    kernel(all.data(), c.data(), 256, h, zp);
    for (int v = 0; v < 256; ++v) t.codes[v] = static_cast<uint8_t>(c[v]);
  } else {
    kernel(all.data(), t.codes.data(), 256, h, zp);
  }
  t.key = key;
  return t;
}

template <class In>
ValuePtr run_from(const In* x, const ValuePtr& codes, const Int8Activation& h, int32_t zp) {
  const Value& c = *codes;
  const int64_t n = c.numel();
  const auto& t = tables_for<In>(h, zp);
  const auto* in = reinterpret_cast<const uint8_t*>(x);
  if (!h.quantize_output && h.kind == Int8Activation::Kind::hard_swish) {
    // Float out: the codes and the h-swish's table, applied where the floats
    // are read (value.h, HardSwishOnCodes). The SE pool and gate read them
    // from the codes (a quarter of the bytes) and nothing writes them.
    auto y = std::make_shared<Value>();
    y->type = DType::f32;
    y->dims = c.dims;
    y->nhwc = c.nhwc;
    y->deq_of = codes;
    y->scale = h.in_scale;
    y->zp = h.in_zp;
    y->hswish = t.hswish;
    return y;
  }
  if (!h.quantize_output) {  // float out: also a function of the input byte alone
    auto y = make_value(DType::f32, c.dims, c.nhwc);
    float* out = y->data<float>();
    parallel_ranges(n, [&](int64_t b, int64_t e) {
      if (simd::avx512())
        simd::lookup_float(in + b, out + b, e - b, t.floats.data());
      else
        lookup_float(in + b, out + b, e - b, t.floats.data());
    });
    return y;
  }
  // Codes in, codes out: the output is a function of the input byte alone, so
  // the kernel is computed once for each of the 256 bytes (the same scalar
  // arithmetic, hence the same codes) and the tensor is a table lookup.
  auto y = make_value(h.out_zp != 0 ? DType::s8 : DType::u8, c.dims, c.nhwc);
  y->quantized = true;
  y->scale = h.out_scale;
  y->zp = h.out_zp;
  uint8_t* out = y->buf->data();
  parallel_ranges(n, [&](int64_t b, int64_t e) { lookup(in + b, out + b, e - b, t.codes.data()); });
  return y;
}
}  // namespace

ValuePtr Int8Activation::run(const ValuePtr& codes) const {
  const auto& c = *codes;
  if (!c.quantized) throw std::runtime_error("runtime: int8 activation '" + name + "' got a float input");
  // Stored int8 codes of a uint8 zero point 128 are code - 128.
  if (c.type == DType::s8) return run_from(c.data<int8_t>(), codes, *this, in_zp - (c.zp == 128 ? 128 : 0));
  return run_from(c.data<uint8_t>(), codes, *this, in_zp);
}

}  // namespace compress::runtime
