// An activation between an int8 conv's codes and the next QuantizeLinear,
// run as one pass over the codes instead of its nodes. Its output is a
// function of the input byte alone, so it is computed once per byte value,
// with the same float operations in the same order as the nodes (hence
// bit-identical to running them one by one), and the tensor is a table
// lookup. Two activations:
// - the int8 h-swish the exporter writes (compress/export/emitter.cpp,
//   int8_hard_swish), six nodes:
//     y = DQ(codes); h = Q(y + 3; 6/255, uint8); out = y * DQ(h; 1/255) [-> Q(out)]
// - YOLOv3's LeakyRelu: y = DQ(codes); out = y >= 0 ? y : alpha * y [-> Q(out)].
#pragma once
#include <array>
#include <memory>
#include <string>

#include "compress/runtime/value.h"

namespace compress::runtime {

struct Int8Activation {
  enum class Kind { hard_swish, leaky_relu } kind = Kind::hard_swish;
  std::string name;
  float alpha = 0.01f;  // leaky_relu's slope
  float in_scale = 1;   // the DequantizeLinear of the conv's codes
  int32_t in_zp = 0;
  float three = 3, relu6_scale = 6.f / 255, hsigmoid_scale = 1.f / 255;
  bool quantize_output = false;  // the next conv's input QuantizeLinear, folded in
  float out_scale = 1;
  int32_t out_zp = 0;  // 0: uint8, 128 (uint8) or int8 zero point 0: int8 codes
  ValuePtr run(const ValuePtr& codes) const;

  // The 256-entry tables for the input type and zero point last run, made on
  // the first run (256 quantizations with a division each: most of a small
  // map's step when made every run). A copy starts empty.
  struct Tables {
    int key = -1;                                    // the input's stored type and zero point they were made for
    std::shared_ptr<const HardSwishOnCodes> hswish;  // float out, h-swish
    std::array<float, 256> floats{};                 // float out, leaky ReLU
    std::array<uint8_t, 256> codes{};                // codes out
    Tables() = default;
    Tables(const Tables&) {}
    Tables& operator=(const Tables&) {
      key = -1;
      hswish.reset();
      return *this;
    }
  };
  mutable Tables tables;
};

// Round half to even and saturate x / s to [lo, hi], as QuantizeLinear.
inline float quantize_one(float x, float s, float lo, float hi) {
  float v = x / s;
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  constexpr float magic = 12582912.f;  // 1.5 * 2^23: adding and removing it rounds to even
  return (v + magic) - magic;
}

}  // namespace compress::runtime
