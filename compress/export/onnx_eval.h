// `compress eval -c RECIPE --onnx M.onnx --runtime ort|onednn`: the whole
// EvalReader through an exported file in either engine, its outputs decoded as
// the recipe's model decodes its own (onnx_detections), scored by our COCO
// evaluator: what the runtime itself would score.
#pragma once
#include <string>

#include "train/config/config.h"
#include "train/eval/coco_eval.h"
#include "train/models/detector.h"

namespace compress {

struct OnnxEvalRun {
  CocoEvalResult result;
  int64_t images = 0;
  double seconds = 0;  // wall time, engine and decoding
};

// model: the recipe's detector (its postprocess decodes the file's raw maps;
// weights are not needed). runtime: "ort" or "onednn".
OnnxEvalRun evaluate_onnx(const Config& cfg, DetectorImpl& model, const std::string& onnx_path,
                          const std::string& runtime);

}  // namespace compress
