// `compress export --format onnx`: writes a detector as an ONNX (opset 13) graph
// by walking our own module tree (no tracing): BN folded into each conv,
// h-swish as HardSigmoid(1/6, 0.5) + Mul, ReLU6 as Clip. QAT models export as
// QDQ: per-tensor int8 QuantizeLinear/DequantizeLinear on each quantized conv's
// input (the learned scale) and int8 weights with per-channel (axis 0)
// DequantizeLinear; convs left float by --not_quant_pattern stay float.
//
// Inputs and outputs (batch dimension symbolic, "N"):
//   image   (N, 3, H, W) float, normalized as the recipe's EvalReader does
//   SSD:    loc (N, A, 4) box deltas, conf (N, A, C + 1) logits, priors (A, 4)
//           normalized xyxy; --with_postprocess adds boxes (N, A, 4) xyxy pixels
//           and scores (N, A, C + 1) softmax. NMS stays in application code.
//   YOLOv3: out_s32, out_s16, out_s8: (N, 3 * (5 + C), H/s, W/s) raw maps;
//           --with_postprocess adds boxes (N, P, 4) xyxy pixels and scores
//           (N, P, C) = sigmoid(obj) * sigmoid(cls), P = 3 (H W / 32^2 + H W / 16^2 + H W / 8^2).
//           NMS stays in application code.
//   CascadeRCNN: batch 1; the FPN levels, RPN maps, proposals, and boxes and
//           scores after the cascade, with or without --with_postprocess (see
//           lower_cascade_rcnn.cpp). NMS over the classes stays in application code.
#pragma once
#include <string>
#include <vector>

#include "train/models/detector.h"

namespace compress {

struct ExportOptions {
  int64_t height = 320, width = 320;  // the fixed spatial input size
  bool with_postprocess = false;
};

struct ExportResult {
  std::vector<std::string> outputs;
  int64_t nodes = 0;
  int64_t quantized_convs = 0;  // convs exported with QDQ
};

ExportResult export_onnx(DetectorImpl& model, const std::string& path, const ExportOptions& o);

// One building block alone, through the same emitter as whole detectors, so
// each op and block can be checked against LibTorch in isolation. Input "x"
// (N, C, H, W) with the given C, H, W; outputs: "y" (the block's forward), and
// for a YoloDetectionBlock "route" and "tip". Blocks: ConvBNLayer, SEBlock,
// ResidualUnit, BasicBlock, ExtraBlock, SeparableHead, YoloDetectionBlock;
// anything else is an error naming its type. Returns the output names.
std::vector<std::string> export_block_onnx(torch::nn::Module& block, const std::string& path,
                                           const std::vector<int64_t>& chw);

}  // namespace compress
