#include "train/models/yolov3.h"

#include <torch/torch.h>

#include <cmath>

#include "train/config/config.h"
#include "train/data/loader.h"
#include "train/util/error.h"

namespace compress {

YOLOv3Options yolov3_options_from_config(const Config& cfg) {
  YOLOv3Options o;
  o.backbone = cfg.get<std::string>("YOLOv3.backbone");
  o.model_name = cfg.get<std::string>("MobileNetV3.model_name");
  o.scale = cfg.get<double>("MobileNetV3.scale");
  o.reduced_tail = cfg.get<bool>("MobileNetV3.reduced_tail");
  o.depth = cfg.get<int64_t>("ResNet.depth");
  o.zero_init_residual = cfg.get<bool>("ResNet.zero_init_residual");
  o.loss.num_classes = cfg.get<int64_t>("num_classes");
  const std::string h = "YOLOv3Head.";
  for (const auto& a : cfg.get<std::vector<std::vector<double>>>(h + "anchors")) {
    if (a.size() != 2 || !(a[0] > 0) || !(a[1] > 0))
      fail(h, "anchors: each anchor needs a positive [w, h], got ", a.size(), " values");
    o.loss.anchors.emplace_back(a[0], a[1]);
  }
  for (const auto& m : cfg.get<std::vector<std::vector<int>>>(h + "anchor_masks")) {
    std::vector<int64_t> mask;
    for (int k : m) {
      if (k < 0 || k >= static_cast<int>(o.loss.anchors.size()))
        fail(h, "anchor_masks: index ", k, " out of range for ", o.loss.anchors.size(), " anchors");
      mask.push_back(k);
    }
    o.loss.masks.push_back(mask);
  }
  if (o.loss.masks.size() != 3) fail(h, "anchor_masks: YOLOv3 has 3 scales, got ", o.loss.masks.size(), " masks");
  o.loss.ignore_thresh = cfg.get<double>("YOLOv3Loss.ignore_thresh");
  o.loss.label_smooth = cfg.get<bool>("YOLOv3Loss.label_smooth");
  o.obj_prior = cfg.get<double>(h + "obj_prior");
  if (o.obj_prior < 0 || o.obj_prior >= 1) fail(h, "obj_prior: must be in [0, 1), got ", o.obj_prior);
  o.nms.score_threshold = cfg.get<double>(h + "nms.score_threshold");
  o.nms.nms_threshold = cfg.get<double>(h + "nms.nms_threshold");
  o.nms.nms_top_k = cfg.get<int64_t>(h + "nms.nms_top_k");
  o.nms.keep_top_k = cfg.get<int64_t>(h + "nms.keep_top_k");
  return o;
}

ConvPairImpl::ConvPairImpl(int64_t in, int64_t channel) {
  first = register_module("0", ConvBNLayer(ConvBNOptions(in, channel, 1, 1, 1, Act::LeakyReLU)));
  second = register_module("1", ConvBNLayer(ConvBNOptions(channel, 2 * channel, 3, 1, 1, Act::LeakyReLU)));
}

torch::Tensor ConvPairImpl::forward(const torch::Tensor& x) { return second->forward(first->forward(x)); }

YoloDetectionBlockImpl::YoloDetectionBlockImpl(int64_t in, int64_t channel) {
  TORCH_CHECK(channel % 2 == 0, "YOLOv3 detection block: channel must be even, got ", channel);
  pair0 = register_module("0", ConvPair(in, channel));
  pair1 = register_module("1", ConvPair(2 * channel, channel));
  route = register_module("2", ConvBNLayer(ConvBNOptions(2 * channel, channel, 1, 1, 1, Act::LeakyReLU)));
  tip = register_module("tip", ConvBNLayer(ConvBNOptions(channel, 2 * channel, 3, 1, 1, Act::LeakyReLU)));
}

std::pair<torch::Tensor, torch::Tensor> YoloDetectionBlockImpl::forward(const torch::Tensor& x) {
  const torch::Tensor r = route->forward(pair1->forward(pair0->forward(x)));
  return {r, tip->forward(r)};
}

YOLOv3Impl::YOLOv3Impl(const YOLOv3Options& o) : opt(o) {
  num_classes = o.loss.num_classes;
  if (num_classes < 1) fail("num_classes must be >= 1, got ", num_classes);
  std::vector<int64_t> taps;  // channels at strides 8, 16, 32
  if (o.backbone == "MobileNetV3") {
    mobilenet = register_module("backbone", MobileNetV3(o.model_name, o.scale, 32, o.reduced_tail));
    taps = mobilenet->stride_channels;
  } else if (o.backbone == "ResNet") {
    resnet = register_module("backbone", ResNet(o.depth, o.zero_init_residual));
    taps = resnet->stride_channels;
  } else {
    fail("YOLOv3.backbone: unsupported '", o.backbone, "' (valid: MobileNetV3, ResNet)");
  }
  yolo_block = register_module("yolo_block", torch::nn::ModuleList());
  yolo_transition = register_module("yolo_transition", torch::nn::ModuleList());
  yolo_output = register_module("yolo_output", torch::nn::ModuleList());
  int64_t route_channels = 0;
  for (int64_t i = 0; i < 3; ++i) {
    const int64_t channel = 512 >> i;
    const int64_t in = taps[2 - i] + route_channels;
    yolo_block->push_back(YoloDetectionBlock(in, channel));
    const int64_t A = static_cast<int64_t>(o.loss.masks[i].size());
    ConvBNLayer out(ConvBNOptions(2 * channel, A * (5 + num_classes), 1, 1, 1, Act::None, false));
    if (o.obj_prior > 0) {
      // Every cell starts predicting objectness p instead of ~0.5: the first
      // steps' loss is then not 99% "there is nothing here" on thousands of
      // empty cells (RetinaNet's prior-probability init). Bias (A*(5+C)) viewed
      // as (A, 5+C); column 4 is objectness.
      torch::NoGradGuard no_grad;
      out->conv->bias.view({A, 5 + num_classes}).select(1, 4).fill_(-std::log((1 - o.obj_prior) / o.obj_prior));
    }
    yolo_output->push_back(out);
    if (i < 2) {
      yolo_transition->push_back(ConvBNLayer(ConvBNOptions(channel, channel / 2, 1, 1, 1, Act::LeakyReLU)));
      route_channels = channel / 2;
    }
  }
}

std::vector<torch::Tensor> YOLOv3Impl::forward(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3, "YOLOv3: expected (N, 3, H, W) images, got ", images.sizes());
  const std::vector<torch::Tensor> feats = mobilenet ? mobilenet->forward_strides(images) : resnet->forward(images);
  std::vector<torch::Tensor> outs;
  torch::Tensor route;
  for (int64_t i = 0; i < 3; ++i) {
    torch::Tensor x = feats[2 - i];
    // The upsampled route is sized to the tap, so inputs need not be multiples of 32.
    if (i > 0) x = torch::cat({torch::upsample_nearest2d(route, {x.size(2), x.size(3)}), x}, 1);
    auto [r, tip] = yolo_block[i]->as<YoloDetectionBlock>()->forward(x);
    outs.push_back(yolo_output[i]->as<ConvBNLayer>()->forward(tip));
    if (i < 2) route = yolo_transition[i]->as<ConvBNLayer>()->forward(r);
  }
  return outs;
}

LossTerms YOLOv3Impl::loss(const std::vector<torch::Tensor>& out, const Batch& batch) {
  const auto l = yolov3_loss(out, batch.boxes, batch.labels, batch.num_boxes, batch.images.size(2),
                             batch.images.size(3), opt.loss, batch.scores);
  return {l.total(), {{"xy", l.xy}, {"wh", l.wh}, {"obj", l.obj}, {"cls", l.cls}}};
}

std::pair<torch::Tensor, torch::Tensor> YOLOv3Impl::decode(const std::vector<torch::Tensor>& out, int64_t in_h,
                                                           int64_t in_w) const {
  std::vector<torch::Tensor> boxes, scores;
  const int64_t C = num_classes;
  for (size_t s = 0; s < out.size(); ++s) {
    std::vector<std::pair<double, double>> anchors;
    for (int64_t k : opt.loss.masks[s]) anchors.push_back(opt.loss.anchors[k]);
    const int64_t N = out[s].size(0), A = static_cast<int64_t>(anchors.size());
    boxes.push_back(decode_yolo_boxes(out[s], anchors, in_h, in_w).reshape({N, -1, 4}));
    const auto v = out[s].view({N, A, 5 + C, out[s].size(2), out[s].size(3)});
    const auto sc = torch::sigmoid(v.select(2, 4)).unsqueeze(2) * torch::sigmoid(v.slice(2, 5));  // (N, A, C, H, W)
    scores.push_back(sc.permute({0, 1, 3, 4, 2}).reshape({N, -1, C}));
  }
  return {torch::cat(boxes, 1), torch::cat(scores, 1)};
}

std::vector<ImageDetections> YOLOv3Impl::postprocess(const std::vector<torch::Tensor>& out, int64_t in_h,
                                                     int64_t in_w) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> cpu;
  for (const auto& t : out) cpu.push_back(t.to(torch::kCPU, torch::kFloat32));
  const auto [boxes, scores] = decode(cpu, in_h, in_w);
  std::vector<ImageDetections> result(boxes.size(0));
  for (int64_t i = 0; i < boxes.size(0); ++i) result[i] = multiclass_nms(boxes[i], scores[i], in_h, in_w, opt.nms);
  return result;
}

}  // namespace compress
