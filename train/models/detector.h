// The interface every detector implements, so the training loop, evaluation,
// QAT, pruning and export work on SSDLite and YOLOv3 alike.
#pragma once
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "train/models/detection.h"

namespace compress {

class Config;
struct Batch;

struct LossTerms {
  torch::Tensor total;                                       // scalar to backpropagate
  std::vector<std::pair<std::string, torch::Tensor>> terms;  // named parts, for logs
};

struct DetectorImpl : torch::nn::Module {
  ~DetectorImpl() override = default;
  // images (N, 3, H, W) -> the raw head outputs (the tensors an exported model returns).
  virtual std::vector<torch::Tensor> forward(const torch::Tensor& images) = 0;
  virtual LossTerms loss(const std::vector<torch::Tensor>& outputs, const Batch& batch) = 0;
  // Decoded, NMS-ed detections in input pixels, one list per image.
  virtual std::vector<ImageDetections> postprocess(const std::vector<torch::Tensor>& outputs, int64_t in_h,
                                                   int64_t in_w) = 0;
  virtual std::string arch() const = 0;  // "SSD", "YOLOv3"
  int64_t num_classes = 0;
};
using Detector = std::shared_ptr<DetectorImpl>;

// Builds the detector the config's `architecture` names, with its sections.
Detector build_detector(const Config& cfg);

}  // namespace compress
