// An int8 conv over a 1x1 map (the SE blocks' squeeze and excite convs: one
// row of C codes times the [O, C] weights). oneDNN runs these at 15-30 us each
// when its kernel, descriptors and weights are cold, as they are inside a
// model (a 120 -> 32 conv: 15.6 us cold against 1.2 hot, isolated), for at
// most a few hundred thousand multiply-adds; this is one plain loop whose
// code every such conv shares. Same arithmetic as the oneDNN conv it stands
// in for: the exact int32 sum, then (sum + bias / scale) * scale and the
// post-op chain in float, then the saturating round to nearest even.
#pragma once
#include <cstdint>
#include <vector>

namespace compress::runtime {

// One element-wise op of a conv's post-op chain, as oneDNN's eltwise
// algorithms define it (the runtime builds both from one list).
struct Eltwise {
  enum Alg { relu, clip, linear, hard_swish, logistic } alg;
  float alpha = 0, beta = 0;  // relu: negative slope; clip: [alpha, beta]; linear: alpha x + beta
};
float apply_eltwise(const Eltwise& e, float v);

struct Conv1x1MapInt8 {
  int64_t in_channels = 0, out_channels = 0;
  std::vector<int8_t> weights;  // [O, C]
  std::vector<float> scale;     // per output channel: s_x * s_w[c]
  std::vector<float> bias_acc;  // per output channel: bias / scale (accumulator units), or empty
  std::vector<Eltwise> post;    // in order
  int out = 0;                  // 0: float; 1: uint8 codes; 2: int8 codes
  // The weights in VNNI blocks (see the .cpp) and 128 * sum(w) per channel;
  // made by pack() from `weights`, used where the CPU has AVX512-VNNI.
  std::vector<int8_t> packed;
  std::vector<int32_t> comp;
  void pack();
  // x: C codes (uint8, or int8 storage of a zero point 128, whose stored
  // value is the code minus the zero point); y: O floats or codes.
  void run(const void* x, bool x_s8, void* y) const;
};

}  // namespace compress::runtime
