// SSDLite (Sandler et al., MobileNetV2 paper, Sec. 6.2) on MobileNetV3, as in
// PaddleDetection's ssdlite_mobilenet_v3 recipes:
//   backbone                          MobileNetV3 with two taps (stride 16 expand, stride 32)
//   extra_blocks.{i}.{conv1,dw,conv2} depthwise-separable stride-2 blocks, ReLU6
//   multi_box_head.{loc,conf}.{i}.{dw,pw}  depthwise 3x3 + BN + ReLU6, then 1x1 with bias
#pragma once
#include <torch/nn/modules/container/modulelist.h>

#include <map>
#include <mutex>

#include "train/models/detector.h"
#include "train/models/layers.h"
#include "train/models/mobilenet_v3.h"
#include "train/models/ssd/multibox_loss.h"
#include "train/models/ssd/prior_box.h"

namespace compress {

struct SSDOptions {
  std::string model_name = "large";
  double scale = 1.0;
  bool reduced_tail = false;  // MobileNetV3's halved stride-32 stage
  int64_t num_classes = 80;
  std::vector<std::vector<int64_t>> extra_block_filters = {{256, 512}, {128, 256}, {128, 256}, {64, 128}};
  PriorBoxOptions prior;
  MultiBoxLossOptions loss;
  double nms_threshold = 0.45, score_threshold = 0.01;
  int64_t nms_top_k = 400, keep_top_k = 200;
};

SSDOptions ssd_options_from_config(const Config& cfg);

// depthwise k x k conv + BN + ReLU6 (`dw`), then a 1x1 conv with bias (`pw`).
struct SeparableHeadImpl : torch::nn::Module {
  SeparableHeadImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  ConvBNLayer dw{nullptr}, pw{nullptr};
};
TORCH_MODULE(SeparableHead);

struct ExtraBlockImpl : torch::nn::Module {
  ExtraBlockImpl(int64_t in, int64_t mid, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);  // (N, in, H, W) -> (N, out, ceil(H/2), ceil(W/2))
  ConvBNLayer conv1{nullptr}, dw{nullptr}, conv2{nullptr};
};
TORCH_MODULE(ExtraBlock);

struct SSDLiteImpl : DetectorImpl {
  explicit SSDLiteImpl(const SSDOptions& o);
  // -> {loc (N, A, 4) deltas, conf (N, A, C + 1) logits, priors (A, 4) normalized xyxy}
  std::vector<torch::Tensor> forward(const torch::Tensor& images) override;
  LossTerms loss(const std::vector<torch::Tensor>& outputs, const Batch& batch) override;
  std::vector<ImageDetections> postprocess(const std::vector<torch::Tensor>& outputs, int64_t in_h,
                                           int64_t in_w) override;
  std::string arch() const override { return "SSD"; }

  SSDOptions opt;
  MobileNetV3 backbone{nullptr};
  torch::nn::ModuleList extra_blocks, loc, conf;

 private:
  torch::Tensor priors_for(const std::vector<std::pair<int64_t, int64_t>>& fmaps, int64_t h, int64_t w);
  std::mutex priors_mu_;
  std::map<std::vector<int64_t>, torch::Tensor> priors_cache_;
};
TORCH_MODULE(SSDLite);

}  // namespace compress
