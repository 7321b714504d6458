// A residual Add or an SE Mul whose result a QuantizeLinear rounds, run as one
// pass that reads the operands' codes (lazy DequantizeLinear outputs) or
// floats and writes codes: the nodes' float operations in their order, so the
// result is bit-identical to running Add / Mul and QuantizeLinear one by one.
// Same-shape operands in one layout, or an NHWC image times a per-channel
// [N, C, 1, 1] tensor; anything else runs the two nodes as they are.
#pragma once
#include <string>

#include "compress/runtime/model.h"
#include "compress/runtime/value.h"

namespace compress::runtime {

struct QuantizedBinary {
  const Node* op = nullptr;        // the Add or Mul
  const Node* quantize = nullptr;  // the QuantizeLinear after it
  float out_scale = 1;
  int32_t out_zp = 0;  // 0: uint8; 128 (uint8) or int8 zero point 0: int8 codes
  // quantize_inputs: the QuantizeLinear's inputs after its first (scale, zero point).
  ValuePtr run(const ValuePtr& a, const ValuePtr& b, const std::vector<ValuePtr>& quantize_inputs) const;
};

}  // namespace compress::runtime
