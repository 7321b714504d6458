// An int8 1x1 conv of the runtime's own: channels-last codes [P pixels, C]
// times the [O, C] weights, for the shapes oneDNN 2.6 runs slowly (which
// ones: ConvKernel::own_1x1, measured in docs/runtime.md).
//   - One 1x1 map (SE blocks' squeeze and excite convs): oneDNN takes 15-30 us
//     each when its kernel, descriptors and weights are cold, as inside a
//     model (a 120 -> 32 conv: 15.6 us cold against 1.2 hot, isolated).
//   - Maps of a few pixels, and projections to at most 48 channels from a
//     channel count AMX tiles do not divide (72 -> 24 at 80x80: 108 us in the
//     model against oneDNN's 155).
// Same arithmetic as the oneDNN conv it stands in for: the exact int32 sum,
// then (sum + bias_acc) * scale and the post-op chain in float (each op as
// oneDNN's JIT computes it), then the saturating round to nearest even.
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

// How a conv's exact int32 sums become its outputs, as oneDNN computes
// them: (sum + bias_acc) * scale, the post-op chain, and for codes the
// saturating round to nearest even. Shared by the runtime's own loops.
struct Int8Requant {
  // Per output channel: s_x * s_w[c], or s_x * s_w[c] / s_y where the conv
  // requantizes with one multiplier (no activation or a ReLU, conv.cpp).
  std::vector<float> scale;
  std::vector<float> bias_acc;  // per output channel: bias / (s_x * s_w[c]) (accumulator units), or empty
  std::vector<Eltwise> post;    // in order; for codes it ends in linear(1 / s_y, 0) unless the scale holds it
  int out = 0;                  // 0: float; 1: uint8 codes; 2: int8 codes
  // The chain's fixed vector form, set by plan(): [activation], then the
  // 1 / s_y of a conv writing codes; op_by_op where it has none.
  enum Form { op_by_op, none, relu, leaky, hard_swish } form = op_by_op;
  float act_alpha = 0, out_mul = 1;  // the leaky slope, and the chain's 1 / s_y (1: none to apply)
  void plan();
  // Whether every op of the chain has a vector form (no sigmoid).
  bool vector_chain() const;
};

struct Conv1x1Int8 {
  int64_t in_channels = 0, out_channels = 0;
  std::vector<int8_t> weights;  // [O, C]
  Int8Requant rq;
  // The weights in VNNI blocks (see the .cpp) and 128 * sum(w) per channel;
  // made by pack() from `weights`, used where the CPU has AVX512-VNNI.
  std::vector<int8_t> packed;
  std::vector<int32_t> comp;
  std::vector<float> bias16, scale16;  // rq's bias_acc (or 0) and scale padded to whole blocks of 16
  void pack();                         // also plans rq
  // Whether run() takes the VNNI tiles (the CPU has AVX512-VNNI, the weights
  // are packed and every post-op has a vector form), not the scalar loop.
  bool vectorized() const;
  // x: [pixels, C] codes (uint8, or int8 storage of a zero point 128, whose
  // stored value is the code minus the zero point); y: [pixels, O] floats or
  // codes. Splits the pixels over the runtime's threads.
  void run(const void* x, int64_t pixels, bool x_s8, void* y) const;
};

// Whether this CPU has AVX512-VNNI (and BW), which the int8 loops need.
bool cpu_has_vnni();

}  // namespace compress::runtime
