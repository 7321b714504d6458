// One convolution node on oneDNN, float or int8, with the activations that
// follow it fused as post-ops and, for int8, the QuantizeLinear that rounds its
// output written by the primitive itself (dst int8 / uint8).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compress/runtime/value.h"

namespace dnnl {
struct memory;
}

namespace compress::runtime {

struct Conv1x1Int8;  // conv_1x1_int8.h
struct ConvDwInt8;   // conv_dw_int8.h
struct Int8Requant;  // conv_1x1_int8.h

// An activation fused after the conv (float, before any output rounding).

struct PostOp {
  enum Kind { relu, clip, leaky_relu, hard_sigmoid, hard_swish, sigmoid } kind;
  float alpha = 0, beta = 0;  // clip: [alpha, beta]; leaky: slope alpha; hard_sigmoid: alpha x + beta
};

struct ConvSpec {
  std::string name;
  int64_t out_channels = 0, in_channels = 0, kh = 1, kw = 1, groups = 1;
  std::vector<int64_t> strides{1, 1}, pads{0, 0, 0, 0}, dilations{1, 1};  // pads: top, left, bottom, right
  bool int8 = false;
  float in_scale = 1;  // int8: the input DequantizeLinear's scale and zero point
  int32_t in_zp = 0;
  std::vector<float> weight_f32;    // [O, I / groups, kh, kw] (float conv)
  std::vector<int8_t> weight_s8;    // the same shape (int8 conv)
  std::vector<float> weight_scale;  // int8: per output channel
  std::vector<float> bias;          // float units, per output channel (empty: none)
  std::vector<PostOp> post;
  // int8 conv whose output a QuantizeLinear rounds: written as codes.
  bool quantize_output = false;
  float out_scale = 1;
  int32_t out_zp = 0;  // 0 -> uint8, 128 -> int8 codes
  std::string describe() const;
};

class ConvKernel {
 public:
  explicit ConvKernel(ConvSpec spec);
  ~ConvKernel();
  // x: float (any layout) for a float conv, quantized codes for an int8 one.
  ValuePtr run(const ValuePtr& x);
  const ConvSpec& spec() const { return spec_; }
  // Runs that took the runtime's own int8 loops (conv_1x1_int8.h,
  // conv_dw_int8.h) instead of a oneDNN primitive.
  int64_t own_runs() const { return own_runs_; }
  // Which convs the runtime's own loops take (COMPRESS_OWN_1X1, COMPRESS_OWN_DW).
  enum class OwnMode { off, rule, all };

 private:
  struct Prim;
  // solo: built for one thread whatever its size; weights: another
  // primitive's weights memory, shared when its format is the one wanted.
  void build(const Value& x, std::unique_ptr<Prim>& prim, bool solo, const dnnl::memory* weights);
  const dnnl::memory* held_weights() const;  // a built primitive's weights, if any
  void release_plain_weights();
  void restore_plain_weights();
  ConvSpec spec_;  // its weights released once a primitive holds them
  bool plain_released_ = false;
  Prim* last_ = nullptr;  // the primitive of the last input shape
  std::vector<int64_t> last_dims_;
  DType last_type_ = DType::f32;
  std::map<std::vector<int64_t>, std::unique_ptr<Prim>> cache_;  // by input dims and type
  bool own_1x1(const ConvSpec& s, const Value& x) const;
  void setup_requant(Int8Requant& r) const;
  ValuePtr out_value(const std::vector<int64_t>& dims) const;
  bool own_dw(const ConvSpec& s, const Value& x) const;
  ValuePtr run_dw(const ValuePtr& x);
  OwnMode own_1x1_mode_, own_dw_mode_;  // COMPRESS_OWN_1X1 / _DW when the kernel was made
  std::unique_ptr<ConvDwInt8> dw_;
  std::unique_ptr<Conv1x1Int8> own_;
  int64_t own_runs_ = 0;
};

// Sets the threads oneDNN (OpenMP) uses in this process.
void set_threads(int threads);

}  // namespace compress::runtime
