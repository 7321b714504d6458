// Cascade R-CNN (Cai & Vasconcelos, CVPR 2018) on MobileNetV3 + FPN, as the
// reference's cascade_rcnn_mobilenetv3_fpn_320: FPN levels 2-6 of 48 channels
// on the backbone's stride 4/8/16 taps, an RPN on every level, and three box
// heads trained at IoU 0.5, 0.6 and 0.7, each refining the previous one's boxes.
// Names: backbone.*, fpn.fpn_inner.{i}, fpn.fpn_layer.{i}, fpn.fpn_extra.{j},
// rpn_head.{conv,rpn_cls_logits,rpn_bbox_pred}, bbox_head.{s}.{fc6,fc7,cls_score,bbox_pred}.
//
// forward() runs the dense part (backbone, FPN, RPN); the RoI stages need the
// GT (training) or the proposals (inference), so loss() and postprocess() run them.
#pragma once
#include <torch/nn/modules/container/modulelist.h>

#include <array>
#include <string>
#include <vector>

#include "train/models/detector.h"
#include "train/models/mobilenet_v3.h"
#include "train/models/multiclass_nms.h"
#include "train/models/rcnn/balanced_l1.h"
#include "train/models/rcnn/fpn.h"
#include "train/models/rcnn/roi_align.h"
#include "train/models/rcnn/roi_targets.h"
#include "train/models/rcnn/rpn.h"

namespace compress {

struct CascadeRCNNOptions {
  int64_t num_classes = 80;
  std::string model_name = "large";  // MobileNetV3
  double scale = 1.0;
  std::vector<int64_t> feature_maps{2, 3, 4};  // backbone taps: strides 4, 8, 16
  bool freeze_norm = true;                     // backbone BN runs on its running statistics
  int64_t fpn_channels = 48, min_level = 2, max_level = 6;
  bool has_extra_convs = true;
  double anchor_start_size = 32;  // at min_level, doubling per level
  std::vector<double> aspect_ratios{0.5, 1.0, 2.0};
  int64_t rpn_channels = 48;
  RpnTargetOptions rpn_target;
  ProposalOptions train_proposal{2000, 2000, 0.7, 0.0}, test_proposal{300, 100, 0.7, 0.0};
  RoIAlignOptions roi;
  int64_t head_hidden = 128;
  std::vector<RoiSampleOptions> stages;  // one per cascade stage
  std::vector<std::array<float, 4>> bbox_reg_weights;
  std::vector<double> stage_loss_weights{1.0, 0.5, 0.25};
  BalancedL1Options box_loss;
  MultiClassNmsOptions nms{0.05, 0.5, 1000, 100};

  CascadeRCNNOptions();  // the reference's three stages
};

CascadeRCNNOptions cascade_rcnn_options_from_config(const Config& cfg);

struct CascadeRCNNImpl : DetectorImpl {
  explicit CascadeRCNNImpl(const CascadeRCNNOptions& o);
  // images (N, 3, H, W) -> L FPN levels (N, 48, H / 2^l, W / 2^l), then L objectness
  // maps (N, A, ., .), then L delta maps (N, 4A, ., .); L = max_level - min_level + 1.
  std::vector<torch::Tensor> forward(const torch::Tensor& images) override;
  LossTerms loss(const std::vector<torch::Tensor>& outputs, const Batch& batch) override;
  std::vector<ImageDetections> postprocess(const std::vector<torch::Tensor>& outputs, int64_t in_h,
                                           int64_t in_w) override;
  std::string arch() const override { return "CascadeRCNN"; }
  // Keeps the backbone's BatchNorm in eval mode when freeze_norm is set.
  void train(bool on = true) override;

  // Anchors of every level for these outputs, level order: (K_l, 4) each.
  std::vector<torch::Tensor> anchors(const std::vector<torch::Tensor>& outputs) const;
  // Proposals per image (P_i, 4) from these outputs and their anchors(), with
  // the train or test settings.
  std::vector<torch::Tensor> proposals(const std::vector<torch::Tensor>& outputs,
                                       const std::vector<torch::Tensor>& anchors, int64_t in_h, int64_t in_w,
                                       const ProposalOptions& po) const;
  // One stage on RoIs of every image (rois (R, 4), batch_idx (R)) -> {logits (R, C + 1), deltas (R, 4)}.
  std::pair<torch::Tensor, torch::Tensor> run_stage(size_t stage, const std::vector<torch::Tensor>& outputs,
                                                    const torch::Tensor& rois, const torch::Tensor& batch_idx);
  // The cascade on given RoIs (R, 4) of images batch_idx (R): the last stage's
  // boxes (R, 4), clipped to the input, and the stages' softmax scores averaged
  // (R, C + 1). `compress export --verify` runs it on ONNX Runtime's proposals.
  std::pair<torch::Tensor, torch::Tensor> refine(const std::vector<torch::Tensor>& outputs, torch::Tensor rois,
                                                 const torch::Tensor& batch_idx, int64_t in_h, int64_t in_w);
  // Final boxes (R_i, 4) and class scores (R_i, C + 1) per image, before NMS:
  // refine() on the test proposals.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> detect(const std::vector<torch::Tensor>& outputs, int64_t in_h,
                                                              int64_t in_w);

  CascadeRCNNOptions opt;
  MobileNetV3 backbone{nullptr};
  FPN fpn{nullptr};
  RPNHead rpn_head{nullptr};
  torch::nn::ModuleList bbox_head;

 private:
  // The RPN maps of every level, flattened in anchor order: objectness (N, K_l)
  // and deltas (N, K_l, 4). The loss and the proposals share one flattening.
  struct RpnMaps {
    std::vector<torch::Tensor> cls, box;
  };
  RpnMaps rpn_maps(const std::vector<torch::Tensor>& outputs) const;
  // Proposals per image from flattened maps (taken as constants: no gradient
  // flows into the RPN through the proposals, as in the reference).
  std::vector<torch::Tensor> proposals(const RpnMaps& maps, const std::vector<torch::Tensor>& anchors, int64_t in_h,
                                       int64_t in_w, const ProposalOptions& po) const;
};
TORCH_MODULE(CascadeRCNN);

}  // namespace compress
