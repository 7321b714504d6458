// The generic ops of `compress export`: constants, activations, QDQ, convs
// with their int8 weights and biases, conv + BN + activation with the output
// rounding the quantization plan decides. Blocks (lower_blocks.h) and whole
// detectors (architectures.h) are written with these. Tensor names follow
// module paths.
#pragma once
#include <torch/torch.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "compress/export/onnx_graph.h"
#include "compress/quant/conv_quant.h"
#include "train/models/layers.h"

namespace compress::onnx_export {

inline std::vector<int64_t> dims_of(const torch::Tensor& t) { return t.sizes().vec(); }

// Writes nodes through OnnxGraph; counts the quantized convs it writes.
class Emitter {
 public:
  explicit Emitter(OnnxGraph& g) : g_(g) {}

  OnnxGraph& graph() { return g_; }
  // Distinct convs written with QDQ.
  int64_t quantized_convs() const { return quantized_; }

  std::string constant(const std::string& name, const torch::Tensor& t);

  std::string ints(const std::string& name, const std::vector<int64_t>& v);
  // Elements [a, b) of x along `axis` (Slice with constant starts / ends / axes).
  std::string slice(const std::string& x, int64_t axis, int64_t a, int64_t b, const std::string& name);

  std::string act(const std::string& x, Act a, const std::string& name);

  // 8-bit QDQ of an activation with a per-tensor step. Activations are written
  // as uint8, the type x86 runtimes fuse into int8 convs (ONNX Runtime fuses
  // int8 activations only on ARM): a symmetric int8 grid is uint8 with zero
  // point 128, exactly; an unsigned one (after ReLU) is uint8 with zero point 0,
  // which lets the runtime drop the ReLU into the conv.
  std::string qdq(const std::string& x, float step, bool non_negative, const std::string& name,
                  const std::string& what);

  // The conv's input: as is where the plan reads it on its producer's grid,
  // else rounded at the conv's input step (site: the quantizer's call site).
  std::string qdq_input(const std::string& x, const quant::ConvQuantImpl& q, const std::string& name);

  // The weight: float, or int8 with per-channel (axis 0) / per-tensor scales.
  std::string weight(const torch::Tensor& w_in, const quant::ConvQuantImpl* q, const std::string& name);

  std::string conv(const std::string& x, const torch::nn::detail::ConvNdOptions<2>& o, const torch::Tensor& w,
                   const torch::Tensor& b, const quant::ConvQuantImpl* q, const std::string& name);

  std::string int32_bias(const torch::Tensor& b_in, const torch::Tensor& w_in, const quant::ConvQuantImpl& q,
                         const std::string& name);

  const quant::ConvQuantImpl* quant_of(const std::shared_ptr<ConvQuantHook>& h, const std::string& path);

  std::string conv_bn(const std::string& x, ConvBNLayerImpl& l, const std::string& path);

  // The activation of conv `conv_name`'s output, with the output rounding the
  // plan decides, as ConvQuantImpl::output computes it: after None / ReLU /
  // ReLU6 (ONNX Runtime folds them into the uint8 range), before any other
  // activation (h-swish then in its int8 form).
  std::string conv_output(const std::string& y, Act a, const quant::ConvQuantImpl* q, const std::string& conv_name,
                          const std::string& act_name);

  // h-swish of an int8 conv output, as ConvQuantImpl::hard_swish computes it:
  // Add(x, 3) quantized to uint8 at step 6/255 (saturation clips to [0, 6]),
  // dequantized at step 1/255 (= hard-sigmoid(x)), times x. ONNX Runtime fuses
  // DQ -> Add -> Q into QLinearAdd, and DQ -> Mul -> Q into QLinearMul where a
  // quantized conv's input Q follows.
  std::string int8_hard_swish(const std::string& x, const std::string& name);

 private:
  OnnxGraph& g_;
  int64_t quantized_ = 0;  // distinct quantized convs
  std::set<std::string> quantized_names_;
  std::map<std::string, std::vector<std::string>> params_;  // float conv path -> weight and bias tensor names
};

}  // namespace compress::onnx_export
