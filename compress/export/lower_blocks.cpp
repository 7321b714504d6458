#include "compress/export/lower_blocks.h"

#include "compress/export/emitter.h"
#include "train/models/mobilenet_v3.h"
#include "train/models/resnet.h"
#include "train/models/ssdlite.h"
#include "train/models/yolov3.h"

namespace compress::onnx_export {

std::string se(Emitter& e, const std::string& x, SEBlockImpl& s, const std::string& path) {
  OnnxGraph& g = e.graph();
  auto p = g.add_node1("GlobalAveragePool", {x}, path + ".pool");
  const auto* q1 = e.quant_of(s.conv1_quant, path + ".conv1");
  const auto* q2 = e.quant_of(s.conv2_quant, path + ".conv2");
  p = e.conv(p, s.conv1->options, s.conv1->weight, s.conv1->bias, q1, path + ".conv1");
  p = e.conv_output(p, Act::ReLU, q1, path + ".conv1", path + ".conv1");
  p = e.conv(p, s.conv2->options, s.conv2->weight, s.conv2->bias, q2, path + ".conv2");
  p = e.conv_output(p, Act::HardSigmoid, q2, path + ".conv2", path + ".conv2");
  return g.add_node1("Mul", {x, p}, path + ".scale");
}

std::pair<std::string, std::string> residual_unit(Emitter& e, const std::string& x, ResidualUnitImpl& u,
                                                  const std::string& path) {
  const auto ex = e.conv_bn(x, *u.expand, path + ".expand");
  auto y = e.conv_bn(ex, *u.res_conv1, path + ".res_conv1");
  if (u.se_block) y = se(e, y, *u.se_block, path + ".se_block");
  y = e.conv_bn(y, *u.linear, path + ".linear");
  if (u.shortcut) y = e.graph().add_node1("Add", {y, x}, path + ".add");
  return {ex, y};
}

std::vector<std::string> mobilenet(Emitter& e, const std::string& x, MobileNetV3Impl& m, bool yolo_taps) {
  auto y = e.conv_bn(x, *m.conv1, "backbone.conv1");
  std::vector<std::string> taps;
  for (size_t i = 0; i < m.blocks->size(); ++i) {
    auto [ex, out] = residual_unit(e, y, *m.blocks[i]->as<ResidualUnit>(), "backbone.blocks." + std::to_string(i));
    if (!yolo_taps && static_cast<int64_t>(i) == m.tap_block) taps.push_back(ex);
    y = out;
    if (yolo_taps && (static_cast<int64_t>(i) == m.s8_block || static_cast<int64_t>(i) == m.s16_block))
      taps.push_back(y);
  }
  taps.push_back(e.conv_bn(y, *m.conv_last, "backbone.conv_last"));
  return taps;
}

std::string extra_block(Emitter& e, const std::string& x, ExtraBlockImpl& b, const std::string& path) {
  return e.conv_bn(e.conv_bn(e.conv_bn(x, *b.conv1, path + ".conv1"), *b.dw, path + ".dw"), *b.conv2, path + ".conv2");
}

std::string separable_head(Emitter& e, const std::string& x, SeparableHeadImpl& h, const std::string& path) {
  return e.conv_bn(e.conv_bn(x, *h.dw, path + ".dw"), *h.pw, path + ".pw");
}

std::string basic_block(Emitter& e, const std::string& x, BasicBlockImpl& b, const std::string& path) {
  OnnxGraph& g = e.graph();
  const auto a = e.conv_bn(e.conv_bn(x, *b.branch2a, path + ".branch2a"), *b.branch2b, path + ".branch2b");
  const auto sc = b.branch1 ? e.conv_bn(x, *b.branch1, path + ".branch1") : x;
  return g.add_node1("Relu", {g.add_node1("Add", {a, sc}, path + ".add")}, path + ".relu");
}

std::pair<std::string, std::string> yolo_block(Emitter& e, const std::string& x, YoloDetectionBlockImpl& blk,
                                               const std::string& path) {
  auto y = e.conv_bn(x, *blk.pair0->first, path + ".0.0");
  y = e.conv_bn(y, *blk.pair0->second, path + ".0.1");
  y = e.conv_bn(y, *blk.pair1->first, path + ".1.0");
  y = e.conv_bn(y, *blk.pair1->second, path + ".1.1");
  const auto route = e.conv_bn(y, *blk.route, path + ".2");
  return {route, e.conv_bn(route, *blk.tip, path + ".tip")};
}

std::vector<std::string> resnet(Emitter& e, const std::string& x, ResNetImpl& r) {
  auto y = e.conv_bn(x, *r.conv1, "backbone.conv1");
  y = e.graph().add_node1("MaxPool", {y}, "backbone.pool",
                          {{"kernel_shape", std::vector<int64_t>{3, 3}},
                           {"strides", std::vector<int64_t>{2, 2}},
                           {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  std::vector<std::string> taps;
  const std::pair<const char*, torch::nn::ModuleList*> stages[] = {
      {"res2", &r.res2}, {"res3", &r.res3}, {"res4", &r.res4}, {"res5", &r.res5}};
  for (const auto& [name, list] : stages) {
    for (size_t j = 0; j < (*list)->size(); ++j)
      y = basic_block(e, y, *(*list)[j]->as<BasicBlock>(), std::string("backbone.") + name + "." + std::to_string(j));
    if (std::string(name) != "res2") taps.push_back(y);
  }
  return taps;
}

}  // namespace compress::onnx_export
