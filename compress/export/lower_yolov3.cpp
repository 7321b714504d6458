// YOLOv3's lowering: the MobileNetV3 or ResNet backbone, the three
// yolo_block / yolo_output / yolo_transition levels with nearest upsampling;
// with --with_postprocess the decoding of YOLOv3Impl::decode. Its entry in the
// architecture table.
#include <torch/torch.h>

#include "compress/export/architectures.h"
#include "compress/export/emitter.h"
#include "compress/export/lower_blocks.h"
#include "train/models/yolov3.h"
#include "train/util/error.h"

namespace compress {
namespace {

using onnx_export::Attr;
using onnx_export::Emitter;
using onnx_export::OnnxGraph;

std::vector<std::string> lower_yolov3(Emitter& e, YOLOv3Impl& m, const ExportOptions& o) {
  using namespace onnx_export;
  OnnxGraph& g = e.graph();
  const int64_t C = m.num_classes;
  if (o.height % 32 || o.width % 32)
    fail("export: YOLOv3 needs an input size that is a multiple of 32, got ", o.height, "x", o.width);
  const auto feats = m.mobilenet ? mobilenet(e, "image", *m.mobilenet, true) : resnet(e, "image", *m.resnet);
  std::vector<std::string> outputs;
  std::string route;
  const char* names[3] = {"out_s32", "out_s16", "out_s8"};
  for (int64_t i = 0; i < 3; ++i) {
    std::string x = feats[2 - i];
    const std::string b = "yolo_block." + std::to_string(i);
    if (i > 0) {
      const float sc[4] = {1, 1, 2, 2};
      const auto up = g.add_node1("Resize", {route, "", g.add_float(b + ".up_scales", {4}, sc)}, b + ".upsample",
                                  {{"mode", std::string("nearest")},
                                   {"coordinate_transformation_mode", std::string("asymmetric")},
                                   {"nearest_mode", std::string("floor")}});
      x = g.add_node1("Concat", {up, x}, b + ".concat", {{"axis", int64_t{1}}});
    }
    const auto [r2, tip] = yolo_block(e, x, *m.yolo_block[i]->as<YoloDetectionBlock>(), b);
    const auto out = e.conv_bn(tip, *m.yolo_output[i]->as<ConvBNLayer>(), "yolo_output." + std::to_string(i));
    g.add_node1("Identity", {out}, names[i]);
    outputs.push_back(names[i]);
    if (i < 2) route = e.conv_bn(r2, *m.yolo_transition[i]->as<ConvBNLayer>(), "yolo_transition." + std::to_string(i));
  }
  if (o.with_postprocess) {
    // sigmoid(xy) + cell, times the stride; exp(wh) times the anchor; boxes xyxy in
    // pixels and scores sigmoid(obj) * sigmoid(cls), in YOLOv3Impl::decode's order.
    std::vector<std::string> all_boxes, all_scores;
    const auto perm = Attr{"perm", std::vector<int64_t>{0, 1, 3, 4, 2}};
    for (int64_t i = 0; i < 3; ++i) {
      const int64_t s = int64_t{32} >> i, H = o.height / s, W = o.width / s;
      const auto& mask = m.opt.loss.masks[i];
      const int64_t A = static_cast<int64_t>(mask.size());
      const std::string p = std::string("decode_s") + std::to_string(s);
      const auto v = g.add_node1("Reshape", {names[i], e.ints(p + ".shape", {0, A, 5 + C, H, W})}, p + ".v");
      const auto gx = torch::arange(W, torch::kFloat32).view({1, 1, 1, 1, W}).expand({1, 1, 1, H, W});
      const auto gy = torch::arange(H, torch::kFloat32).view({1, 1, 1, H, 1}).expand({1, 1, 1, H, W});
      const auto grid = e.constant(p + ".grid", torch::cat({gx, gy}, 2));  // (1, 1, 2, H, W)
      const auto stride =
          e.constant(p + ".stride", torch::tensor({float(o.width) / W, float(o.height) / H}).view({1, 1, 2, 1, 1}));
      std::vector<float> aw;
      for (int64_t k : mask)
        aw.push_back(float(m.opt.loss.anchors[k].first)), aw.push_back(float(m.opt.loss.anchors[k].second));
      const auto anchors = e.constant(p + ".anchors", torch::tensor(aw).view({1, A, 2, 1, 1}));
      const auto xy =
          g.add_node1("Mul",
                      {g.add_node1("Add", {g.add_node1("Sigmoid", {e.slice(v, 2, 0, 2, p + ".txy")}, p + ".sxy"), grid},
                                   p + ".cell"),
                       stride},
                      p + ".xy");
      const auto wh =
          g.add_node1("Mul", {g.add_node1("Exp", {e.slice(v, 2, 2, 4, p + ".twh")}, p + ".ewh"), anchors}, p + ".wh");
      const float half = 0.5f;
      const auto hw = g.add_node1("Mul", {wh, g.add_float(p + ".half", {}, &half)}, p + ".half_wh");
      const auto b =
          g.add_node1("Concat", {g.add_node1("Sub", {xy, hw}, p + ".xy1"), g.add_node1("Add", {xy, hw}, p + ".xy2")},
                      p + ".xyxy", {{"axis", int64_t{2}}});
      all_boxes.push_back(g.add_node1(
          "Reshape", {g.add_node1("Transpose", {b}, p + ".boxes_nhwc", {perm}), e.ints(p + ".bshape", {0, -1, 4})},
          p + ".boxes"));
      const auto sc = g.add_node1("Mul",
                                  {g.add_node1("Sigmoid", {e.slice(v, 2, 4, 5, p + ".obj")}, p + ".sobj"),
                                   g.add_node1("Sigmoid", {e.slice(v, 2, 5, 5 + C, p + ".cls")}, p + ".scls")},
                                  p + ".sc");
      all_scores.push_back(g.add_node1(
          "Reshape", {g.add_node1("Transpose", {sc}, p + ".scores_nhwc", {perm}), e.ints(p + ".sshape", {0, -1, C})},
          p + ".scores"));
    }
    g.add_node1("Concat", all_boxes, "boxes", {{"axis", int64_t{1}}});
    g.add_node1("Concat", all_scores, "scores", {{"axis", int64_t{1}}});
    outputs.push_back("boxes");
    outputs.push_back("scores");
  }
  return outputs;
}

}  // namespace

ArchitectureExport yolov3_architecture() {
  ArchitectureExport a;
  a.arch = "YOLOv3";
  a.lower = [](Emitter& e, DetectorImpl& m, const ExportOptions& o) {
    return lower_yolov3(e, static_cast<YOLOv3Impl&>(m), o);
  };
  a.output_rank = [](const std::string& name) {
    return std::pair<int64_t, bool>{name.rfind("out_s", 0) == 0 ? 4 : 3, true};
  };
  a.decoded_counts = {0, 2};
  a.decoded_what = "boxes, scores";
  a.reference_decoded = [](DetectorImpl& m, const std::vector<torch::Tensor>& ref, const std::vector<torch::Tensor>&,
                           int64_t H, int64_t W) {
    const auto [boxes, scores] = static_cast<YOLOv3Impl&>(m).decode(ref, H, W);
    return std::vector<torch::Tensor>{boxes, scores};
  };
  return a;
}

}  // namespace compress
