// Each building block the exporter writes, alone, against LibTorch through
// ONNX Runtime: every activation (ReLU, ReLU6 as Clip, h-swish as HardSigmoid +
// Mul, leaky ReLU, the SE's hard-sigmoid), plain / strided / depthwise convs on
// odd sizes, BN folding, conv bias, SE, the residual add, ResNet's BasicBlock,
// SSDLite's extra block and separable head, and YOLOv3's detection block; then
// the int8 QDQ conv with each activation against the fake-quant forward. The
// whole-detector tests (test_export.cpp) cover how the blocks are wired.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>

#include "compress/export/onnx_export.h"
#include "compress/export/ort_runner.h"
#include "compress/quant/conv_quant.h"
#include "compress/quant/qat.h"
#include "tests/export_fixture.h"
#include "tests/test_util.h"
#include "train/models/mobilenet_v3.h"
#include "train/models/resnet.h"
#include "train/models/ssdlite.h"
#include "train/models/yolov3.h"
#include "train/util/error.h"

using namespace compress;

namespace {

struct BlockCase {
  std::string name;
  std::shared_ptr<torch::nn::Module> block;
  std::vector<int64_t> chw;
  // The block's LibTorch forward, outputs in export_block_onnx's order.
  std::function<std::vector<torch::Tensor>(const torch::Tensor&)> forward;
};

template <typename M>
BlockCase single(const std::string& name, M m, std::vector<int64_t> chw) {
  return {name, m.ptr(), chw,
          [m](const torch::Tensor& x) mutable { return std::vector<torch::Tensor>{m->forward(x)}; }};
}

// Random BN statistics and biases, so folding and the bias path are exercised.
void randomize(torch::nn::Module& m) {
  testutil::randomize_bn(m);
  torch::NoGradGuard g;
  for (auto& p : m.named_parameters())
    if (p.key().find("bias") != std::string::npos) p.value().uniform_(-0.3, 0.3);
}

std::vector<BlockCase> float_cases() {
  std::vector<BlockCase> c;
  const std::pair<const char*, Act> acts[] = {{"none", Act::None},
                                              {"relu", Act::ReLU},
                                              {"relu6", Act::ReLU6},
                                              {"hard_swish", Act::HardSwish},
                                              {"hard_sigmoid", Act::HardSigmoid},
                                              {"leaky_relu", Act::LeakyReLU}};
  // 3x3 stride 2 on an odd size (13 x 11): the padding rounds like LibTorch's.
  for (const auto& [n, a] : acts)
    c.push_back(single(std::string("conv3x3_s2_") + n, ConvBNLayer(ConvBNOptions(6, 10, 3, 2, 1, a)), {6, 13, 11}));
  c.push_back(
      single("depthwise5x5_hard_swish", ConvBNLayer(ConvBNOptions(12, 12, 5, 1, 12, Act::HardSwish)), {12, 9, 9}));
  c.push_back(single("conv1x1_bias_no_bn", ConvBNLayer(ConvBNOptions(12, 7, 1, 1, 1, Act::None, false)), {12, 5, 6}));
  c.push_back(single("se_block", SEBlock(16, 8), {16, 7, 7}));
  // A MobileNetV3 unit with SE and the shortcut (in == out, stride 1), and one without.
  c.push_back(single("residual_unit_se_shortcut", ResidualUnit(16, BlockSpec{3, 48, 16, true, Act::HardSwish, 1}, 1.0),
                     {16, 10, 10}));
  c.push_back(
      single("residual_unit_s2_relu", ResidualUnit(16, BlockSpec{5, 32, 24, false, Act::ReLU, 2}, 1.0), {16, 11, 11}));
  c.push_back(single("basic_block_identity", BasicBlock(16, 16, 1), {16, 8, 8}));
  c.push_back(single("basic_block_projection", BasicBlock(16, 32, 2), {16, 9, 9}));
  c.push_back(single("ssd_extra_block", ExtraBlock(24, 12, 16), {24, 5, 5}));
  c.push_back(single("ssd_separable_head", SeparableHead(16, 18), {16, 6, 6}));
  YoloDetectionBlock y(24, 16);
  c.push_back({"yolo_detection_block", y.ptr(), {24, 6, 8}, [y](const torch::Tensor& x) mutable {
                 auto [route, tip] = y->forward(x);
                 return std::vector<torch::Tensor>{route, tip};
               }});
  return c;
}

// Exports the block, runs a (2, C, H, W) batch in both engines: {LibTorch, ORT}.
std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> both_engines(const BlockCase& b,
                                                                               const testutil::TempDir& d) {
  torch::manual_seed(7);
  const auto x = torch::randn({2, b.chw[0], b.chw[1], b.chw[2]});
  std::vector<torch::Tensor> ref;
  {
    torch::NoGradGuard g;
    ref = b.forward(x);
  }
  const auto file = d.file(b.name + ".onnx");
  const auto names = export_block_onnx(*b.block, file, b.chw);
  EXPECT_EQ(names.size(), ref.size()) << b.name;
  const auto run = run_onnxruntime(file, {x});
  EXPECT_EQ(run.names, names) << b.name;
  return {ref, run.outputs.at(0)};
}

}  // namespace

TEST(ExportBlocks, EveryFloatBlockMatchesLibTorch) {
  testutil::TempDir d;
  for (const auto& b : float_cases()) {
    randomize(*b.block);
    b.block->eval();
    const auto [ref, ort] = both_engines(b, d);
    ASSERT_EQ(ort.size(), ref.size()) << b.name;
    for (size_t i = 0; i < ref.size(); ++i) {
      ASSERT_EQ(ort[i].sizes(), ref[i].sizes()) << b.name << " output " << i;
      const double scale = std::max(1.0, ref[i].abs().max().item<double>());
      EXPECT_LE((ort[i] - ref[i]).abs().max().item<double>(), 1e-4 * scale) << b.name << " output " << i;
      // Not a degenerate case: the block's output carries signal.
      EXPECT_GT(ref[i].std().item<double>(), 1e-2) << b.name;
    }
  }
}

TEST(ExportBlocks, Int8ConvWithEachActivationWithinOneStep) {
  // One QAT conv per activation, after observers have seen a few batches. ORT
  // runs DQ -> Conv -> Q as an integer conv and rounds its int32 sum once, our
  // fake-quant sums dequantized floats and rounds: they may differ by one output
  // step where the sum lies within float error of a rounding boundary, never
  // more. An activation after the output quantizer (h-swish, leaky: the int8
  // grid sits before them, as ConvBNLayer simulates) scales that step by its
  // slope: at most 1 for leaky ReLU, (2|x| + 3) / 6 for h-swish.
  testutil::TempDir d;
  const std::pair<const char*, Act> acts[] = {{"none", Act::None},
                                              {"relu", Act::ReLU},
                                              {"relu6", Act::ReLU6},
                                              {"hard_swish", Act::HardSwish},
                                              {"leaky_relu", Act::LeakyReLU}};
  for (const bool depthwise : {false, true}) {
    for (const auto& [n, a] : acts) {
      const int64_t C = 12;
      ConvBNLayer layer(ConvBNOptions(C, C, 3, depthwise ? 2 : 1, depthwise ? C : 1, a));
      randomize(*layer);
      quant::apply_qat(*layer, quant::QuantOptions{});
      // A lone layer's output is the model's output, which the plan keeps
      // float; here it is rounded, as where a quantized conv reads it.
      dynamic_cast<quant::ConvQuantImpl&>(*layer->conv_quant).set_plan({{false, true}});
      layer->train();
      {
        torch::NoGradGuard g;
        for (int i = 0; i < 4; ++i) layer->forward(torch::randn({2, C, 9, 9}));
      }
      layer->eval();
      const std::string name = std::string(depthwise ? "dw_" : "conv_") + n;
      const auto [ref, ort] = both_engines(single(name, layer, {C, 9, 9}), d);
      ASSERT_EQ(ort.size(), 1u);
      ASSERT_EQ(ort[0].sizes(), ref[0].sizes()) << name;
      const auto* q = dynamic_cast<quant::ConvQuantImpl*>(layer->conv_quant.get());
      ASSERT_NE(q, nullptr);
      const double step = q->output_step();
      ASSERT_GT(step, 0) << name;
      const double max_x = ref[0].abs().max().item<double>() + 3;
      const double slope = a == Act::HardSwish ? std::max(1.0, (2 * max_x + 3) / 6) : 1.0;
      const auto diff = (ort[0] - ref[0]).abs();
      EXPECT_LE(diff.max().item<double>(), step * slope * 1.001 + 1e-6) << name << " step " << step;
      // Off-by-one roundings are rare: the sum must fall within float error of
      // a boundary.
      const double off = (diff > 1e-3 * step).to(torch::kFloat64).mean().item<double>();
      EXPECT_LE(off, 0.01) << name;
      // The outputs are on the int8 grid: dequantized uint8 with zero point 0
      // after ReLU / ReLU6, 128 otherwise (before the activation).
      if (a == Act::ReLU || a == Act::ReLU6 || a == Act::None) {
        const auto k = ort[0] / step;
        EXPECT_LE((k - k.round()).abs().max().item<double>(), 1e-3) << name;
      }
    }
  }
}

TEST(ExportBlocks, UnknownBlockIsAnErrorNamingIt) {
  testutil::TempDir d;
  torch::nn::Linear lin(4, 4);
  try {
    export_block_onnx(*lin, d.file("x.onnx"), {4, 1, 1});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Linear"), std::string::npos) << e.what();
  }
  EXPECT_THROW(export_block_onnx(*ConvBNLayer(ConvBNOptions(3, 4)), d.file("y.onnx"), {3, 8}), Error);
}
