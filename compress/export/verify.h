// `compress export --verify`: the exported file against LibTorch, in ONNX
// Runtime, on real images of the recipe's EvalReader:
//   float: max |ORT - LibTorch| <= 1e-4 on every output, relative to the
//   output's magnitude where that exceeds 1 (1e-4 * max(1, max|output|): a
//   trained YOLOv3 head emits logits in the tens, where float32 summation order
//   alone moves the last digits);
//   int8 (QDQ): output elements within one quantization step (max|output| / 127)
//   of the LibTorch fake-quant model on at least 99.9% of elements, or, where
//   LibTorch itself is not that stable, within 10 points of how often LibTorch
//   agrees with itself when its weights move by 1e-6 (relative): dozens of chained int8
//   roundings turn any float difference (another conv summation order) into
//   whole-step flips, so that self-agreement is the floor no engine can beat;
//   (element-wise on ORT's reference kernels, graph optimizations off);
//   AP from ORT outputs as deployed (optimizations on; our decoding and
//   evaluator): for float, within 0.3 points of the bracket LibTorch's own
//   detections span when each score may move by the engines' measured
//   difference (ap_bracket): AP ranks detections, and near-ties (fashion-det's
//   black backgrounds give exact ones across images) may come out in either
//   order in another engine. For int8, a plausible draw of LibTorch's own AP
//   when its weights move by 1e-6 (int8_ap_agrees): those flips move AP on a
//   few dozen images by up to a point (measured: 0.9 on 32 images, 0.08 on 500).
// int8 files are also checked layer by layer (verify_layers.h): every int8
// tensor's codes against the simulation's, each layer on identical inputs.
// Cascade R-CNN runs image by image. Its proposals, boxes and scores depend on
// top-k cuts and NMS, where one near-tie in the dense outputs swaps a whole
// box, so LibTorch recomputes them from ONNX Runtime's own RPN maps and
// proposals and they must agree within 1e-4, int8 models included; its AP
// uses ONNX Runtime's boxes and scores.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "compress/export/verify_layers.h"
#include "train/data/coco_json.h"
#include "train/models/detector.h"

namespace compress {

struct VerifyReport {
  std::vector<std::string> outputs;
  std::vector<double> max_abs_diff;     // per output
  std::vector<double> max_abs_ref;      // per output: max |LibTorch output|
  std::vector<double> within_one_step;  // per output: fraction of elements within max|out| / 127
  std::vector<double> self_within;      // int8: the same for LibTorch vs LibTorch with weights moved by 1e-6
  int64_t images = 0;
  double ap_torch = 0, ap_ort = 0;
  double score_eps = 0;         // float: how far a detection's score may move between the engines
  double ap_lo = 0, ap_hi = 0;  // ap_bracket(LibTorch's detections, score_eps)
  std::vector<double> ap_self;  // int8: LibTorch's AP with its weights x (1 + 1e-6 noise), one per draw
  // per output: judged like float (max abs diff) rather than by int8 steps:
  // every output of a float model, and Cascade R-CNN's proposals, boxes and
  // scores, which LibTorch recomputes from ONNX Runtime's own RPN maps and proposals
  std::vector<bool> exact;
  bool quantized = false;
  std::string engine = "ONNX Runtime";  // the engine that ran the file ("ONNX Runtime" or "oneDNN runtime")
  LayerVerify layers;                   // int8: layer by layer (verify_layers.h)
  bool ok = false;
  std::string table() const;  // Markdown
};

// AP's range over the orders near-tied detections may take: every score moved
// by eps, hits (IoU >= .5 with a GT box of the same class and image) up and
// misses down for the high end, the other way for the low end. eps = 0 gives
// {AP, AP}.
std::pair<double, double> ap_bracket(const CocoFile& gt, const std::vector<CocoDetection>& dets, double eps);

// int8: ONNX Runtime's AP within 4 standard deviations of the mean of
// LibTorch's AP and its AP under weight noise (`ap_self`, the draws), or within
// 0.3 points of LibTorch's where that is wider.
bool int8_ap_agrees(double ap_ort, double ap_torch, const std::vector<double>& ap_self);

// Images come from the recipe's EvalReader, resized to the export's h x w if
// that differs from the reader's size.
// runtime: the engine that runs the file, "ort" (ONNX Runtime) or "onednn"
// (compress/runtime); the checks are the same.
VerifyReport verify_export(DetectorImpl& model, const std::string& onnx_path, const Config& cfg, int64_t max_images,
                           int64_t h = 0, int64_t w = 0, const std::string& runtime = "ort");

}  // namespace compress
