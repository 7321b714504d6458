// YOLOv3 (Redmon & Farhadi, 2018) as PaddleDetection's YOLOv3Head, on a
// MobileNetV3 or ResNet backbone. Layer names are the reference's, so its
// --pruned_params lists apply literally (channel = 512 >> i, stride 32 first):
//   yolo_block.{i}.{0,1}.0   1x1 conv to channel        } twice
//   yolo_block.{i}.{0,1}.1   3x3 conv to 2 * channel    }
//   yolo_block.{i}.2         1x1 route conv to channel (feeds .tip and yolo_transition.i)
//   yolo_block.{i}.tip       3x3 conv to 2 * channel
//   yolo_output.{i}          1x1 conv with bias to 3 * (5 + classes), never pruned
//   yolo_transition.{i}      1x1 conv to channel / 2, then 2x nearest upsample and
//                            concat [route, backbone tap] into yolo_block.{i+1}
// Every conv is `<name>.conv.weight` with `<name>.bn.*` beside it; leaky ReLU 0.1.
#pragma once
#include <torch/nn/modules/container/modulelist.h>

#include <string>
#include <utility>
#include <vector>

#include "train/models/detector.h"
#include "train/models/layers.h"
#include "train/models/mobilenet_v3.h"
#include "train/models/multiclass_nms.h"
#include "train/models/resnet.h"
#include "train/models/yolo/yolo_loss.h"

namespace compress {

struct YOLOv3Options {
  std::string backbone = "MobileNetV3";  // or "ResNet"
  std::string model_name = "large";      // MobileNetV3
  double scale = 1.0;                    // MobileNetV3
  int64_t depth = 34;                    // ResNet
  YoloLossOptions loss;                  // anchors, masks, classes, ignore_thresh, label_smooth
  MultiClassNmsOptions nms{0.01, 0.45, 1000, 100};
  bool zero_init_residual = false;  // ResNet
  double obj_prior = 0.0;           // initial objectness probability; 0 = default bias init
  bool reduced_tail = false;        // MobileNetV3's halved stride-32 stage
};

YOLOv3Options yolov3_options_from_config(const Config& cfg);

// Two 1x1 -> 3x3 pairs, registered as `0` and `1` to give `yolo_block.i.j.k`.
struct ConvPairImpl : torch::nn::Module {
  ConvPairImpl(int64_t in, int64_t channel);
  torch::Tensor forward(const torch::Tensor& x);  // (N, in, H, W) -> (N, 2 * channel, H, W)
  ConvBNLayer first{nullptr}, second{nullptr};
};
TORCH_MODULE(ConvPair);

struct YoloDetectionBlockImpl : torch::nn::Module {
  YoloDetectionBlockImpl(int64_t in, int64_t channel);
  // (N, in, H, W) -> {route (N, channel, H, W), tip (N, 2 * channel, H, W)}
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x);
  ConvPair pair0{nullptr}, pair1{nullptr};
  ConvBNLayer route{nullptr}, tip{nullptr};
};
TORCH_MODULE(YoloDetectionBlock);

struct YOLOv3Impl : DetectorImpl {
  explicit YOLOv3Impl(const YOLOv3Options& o);
  // -> one raw map per scale, stride 32 first: (N, A_i * (5 + C), H / s_i, W / s_i),
  // channels per anchor [x, y, w, h, objectness, class logits...].
  std::vector<torch::Tensor> forward(const torch::Tensor& images) override;
  LossTerms loss(const std::vector<torch::Tensor>& outputs, const Batch& batch) override;
  std::vector<ImageDetections> postprocess(const std::vector<torch::Tensor>& outputs, int64_t in_h,
                                           int64_t in_w) override;
  std::string arch() const override { return "YOLOv3"; }
  // Decoded boxes and scores of every prediction, before NMS:
  // boxes (N, P, 4) xyxy input pixels, scores (N, P, C) = sigmoid(obj) * sigmoid(cls).
  std::pair<torch::Tensor, torch::Tensor> decode(const std::vector<torch::Tensor>& outputs, int64_t in_h,
                                                 int64_t in_w) const;

  YOLOv3Options opt;
  MobileNetV3 mobilenet{nullptr};  // one of the two, registered as `backbone`
  ResNet resnet{nullptr};
  torch::nn::ModuleList yolo_block, yolo_transition, yolo_output;
};
TORCH_MODULE(YOLOv3);

}  // namespace compress
