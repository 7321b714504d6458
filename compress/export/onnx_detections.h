// Detections from an exported model's ONNX Runtime outputs, decoded the way
// the LibTorch model decodes its own, so `export --verify` and `infer --onnx`
// score and draw what a mobile runtime would return.
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

#include "train/models/detection.h"

namespace compress {

struct DetectorImpl;
struct Batch;

// One single-image batch per image of b (Cascade R-CNN's files take batch 1).
std::vector<Batch> split_batch(const Batch& b);

// The number of outputs an ONNX export of `model` has: its n_raw head maps, +2
// with --with_postprocess (SSD, YOLOv3), +3 for Cascade R-CNN (proposals,
// boxes, scores). Fails, naming `onnx_path`, when n_ort is none of them.
void check_onnx_outputs(const DetectorImpl& model, size_t n_raw, size_t n_ort, const std::string& onnx_path,
                        const std::string& what);

// outputs: one ONNX Runtime batch (N, ...) per output, the n_raw raw head maps
// first. SSD and YOLOv3: those maps through model.postprocess. Cascade R-CNN
// (batch 1): ONNX Runtime's own boxes (R, 4) and scores (R, C + 1), then our
// per-class NMS. Boxes in input pixels (H x W), one list per image.
std::vector<ImageDetections> onnx_detections(DetectorImpl& model, const std::vector<torch::Tensor>& outputs,
                                             size_t n_raw, int64_t H, int64_t W);

}  // namespace compress
