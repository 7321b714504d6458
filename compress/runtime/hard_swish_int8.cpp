#include "compress/runtime/hard_swish_int8.h"

#include <stdexcept>

namespace compress::runtime {

namespace {
// Built for AVX-512, AVX2 and baseline x86-64, chosen at load time (the
// binary stays portable; this machine's AVX-512 does 16 lanes).
template <class In, class Out>
__attribute__((target_clones("avx512f", "avx2", "default"))) void kernel(const In* __restrict x, Out* __restrict out,
                                                                         int64_t n, const Int8HardSwish& h,
                                                                         int32_t zp) {
  for (int64_t k = 0; k < n; ++k) {
    const float y = h.in_scale * static_cast<float>(static_cast<int32_t>(x[k]) - zp);
    const float q = quantize_one(y + h.three, h.relu6_scale, 0.f, 255.f);
    const float hs = h.hsigmoid_scale * static_cast<float>(static_cast<int32_t>(q));
    const float o = y * hs;
    if constexpr (std::is_same_v<Out, float>) {
      out[k] = o;
    } else if constexpr (std::is_same_v<Out, int8_t>) {
      out[k] = static_cast<int8_t>(static_cast<int32_t>(quantize_one(o, h.out_scale, -128.f, 127.f)));
    } else {
      out[k] = static_cast<uint8_t>(static_cast<int32_t>(quantize_one(o, h.out_scale, 0.f, 255.f)));
    }
  }
}

template <class In>
ValuePtr run_from(const In* x, const Value& c, const Int8HardSwish& h, int32_t zp) {
  const int64_t n = c.numel();
  if (!h.quantize_output) {
    auto y = make_value(DType::f32, c.dims, c.nhwc);
    kernel(x, y->data<float>(), n, h, zp);
    return y;
  }
  const bool s8 = h.out_zp != 0;
  auto y = make_value(s8 ? DType::s8 : DType::u8, c.dims, c.nhwc);
  y->quantized = true;
  y->scale = h.out_scale;
  y->zp = h.out_zp;
  if (s8)
    kernel(x, y->data<int8_t>(), n, h, zp);
  else
    kernel(x, y->data<uint8_t>(), n, h, zp);
  return y;
}
}  // namespace

ValuePtr Int8HardSwish::run(const ValuePtr& codes) const {
  const auto& c = *codes;
  if (!c.quantized) throw std::runtime_error("runtime: int8 h-swish '" + name + "' got a float input");
  // Stored int8 codes of a uint8 zero point 128 are code - 128.
  if (c.type == DType::s8) return run_from(c.data<int8_t>(), c, *this, in_zp - (c.zp == 128 ? 128 : 0));
  return run_from(c.data<uint8_t>(), c, *this, in_zp);
}

}  // namespace compress::runtime
