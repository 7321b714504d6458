// ONNX export checked in ONNX Runtime (the independent engine): float SSDLite
// and YOLOv3 (both backbones) within 1e-4 of LibTorch, QAT SSDLite as QDQ int8
// with the learned scales, file sizes, and the errors users meet.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "compress/export/onnx_export.h"
#include "compress/export/onnx_graph.h"
#include "compress/export/ort_runner.h"
#include "compress/export/verify.h"
#include "compress/prune/report.h"
#include "compress/quant/conv_quant.h"
#include "compress/quant/fake_quant.h"
#include "compress/quant/qat.h"
#include "tests/export_fixture.h"
#include "tests/prune_fixture.h"
#include "tests/train_fixture.h"
#include "train/config/config.h"
#include "train/models/mobilenet_v3.h"
#include "train/util/error.h"

using namespace compress;
namespace fs = std::filesystem;

namespace {

Config tiny_config(const testutil::TempDir&, std::vector<std::string> o) { return config_from_string("", o); }

using testutil::expect_verified;
using testutil::observe_random_batches;
using testutil::randomize_bn;
using testutil::tiny_qat_ssd;

}  // namespace

TEST(Export, FloatSsdliteInOnnxRuntime) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  const Config cfg = tiny_config(d, testutil::tiny_ssd_overrides(d, 96));
  auto model = build_detector(cfg);
  randomize_bn(*model);
  ExportOptions o;
  o.height = o.width = 96;
  o.with_postprocess = true;
  const auto r = export_onnx(*model, d.file("ssd.onnx"), o);
  EXPECT_EQ(r.outputs, (std::vector<std::string>{"loc", "conf", "priors", "boxes", "scores"}));
  EXPECT_EQ(r.quantized_convs, 0);
  // Opset 13 has no HardSwish: it is HardSigmoid + Mul; ReLU6 is Clip; BN is folded away.
  const auto ops = onnx_export::read_op_types(d.file("ssd.onnx"));
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "BatchNormalization"), 0);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "HardSwish"), 0);
  EXPECT_GT(std::count(ops.begin(), ops.end(), "HardSigmoid"), 0);
  EXPECT_GT(std::count(ops.begin(), ops.end(), "Clip"), 0);
  expect_verified(verify_export(*model, d.file("ssd.onnx"), cfg, 8), "SSDLite float");
}

TEST(Export, FloatYolov3BothBackbonesInOnnxRuntime) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  for (const std::string bb : {"MobileNetV3", "ResNet"}) {
    auto o = testutil::tiny_yolo_overrides(d, 64);
    o.push_back("YOLOv3.backbone=" + bb);
    o.push_back("ResNet.depth=18");
    const Config cfg = config_from_string("", o);
    auto model = build_detector(cfg);
    randomize_bn(*model);
    ExportOptions eo;
    eo.height = eo.width = 64;
    eo.with_postprocess = bb == "MobileNetV3";
    const auto r = export_onnx(*model, d.file(bb + ".onnx"), eo);
    if (eo.with_postprocess)
      EXPECT_EQ(r.outputs, (std::vector<std::string>{"out_s32", "out_s16", "out_s8", "boxes", "scores"}));
    else
      EXPECT_EQ(r.outputs, (std::vector<std::string>{"out_s32", "out_s16", "out_s8"}));
    expect_verified(verify_export(*model, d.file(bb + ".onnx"), cfg, 8), "YOLOv3 " + bb);
  }
}

TEST(Export, PrunedYolov3InOnnxRuntime) {
  // The reference head recipe, physically pruned: the file has the new shapes
  // and ONNX Runtime agrees with LibTorch on them.
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  const Config cfg = config_from_string("", testutil::tiny_yolo_overrides(d, 64));
  auto model = build_detector(cfg);
  randomize_bn(*model);
  prune::prune_model(*model, testutil::reference_head_specs(), "geometry_median", 64);
  ExportOptions eo;
  eo.height = eo.width = 64;
  export_onnx(*model, d.file("pruned.onnx"), eo);
  export_onnx(*build_detector(cfg), d.file("full.onnx"), eo);
  EXPECT_LT(fs::file_size(d.file("pruned.onnx")) * 4, fs::file_size(d.file("full.onnx")));
  expect_verified(verify_export(*model, d.file("pruned.onnx"), cfg, 8), "YOLOv3 pruned");
}

TEST(Export, QatSsdliteAsQdqWithTheLearnedScales) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  const Config cfg = config_from_string("", testutil::tiny_ssd_overrides(d, 96));
  ExportOptions o;
  o.height = o.width = 96;
  const auto [model, rep] = tiny_qat_ssd(cfg);  // the observers learned scales
  const auto r = export_onnx(*model, d.file("int8.onnx"), o);
  EXPECT_EQ(r.quantized_convs, static_cast<int64_t>(rep.quantized.size()));
  const auto init = onnx_export::read_float_initializers(d.file("int8.onnx"));
  // Activation scales are the checkpoint's; weight scales are max|W_fold| / 127 per channel.
  // A conv fed straight by another's quantized output has no input pair of its own.
  int64_t inputs = 0, outputs = 0, conv_bn = 0;
  for (const auto& m : model->named_modules()) {
    auto* q = dynamic_cast<quant::ConvQuantImpl*>(m.value().get());
    if (!q) continue;
    const std::string conv = m.key().substr(0, m.key().size() - std::string("_quant").size());
    if (init.count(conv + ".input_scale")) {
      ++inputs;
      EXPECT_FLOAT_EQ(init.at(conv + ".input_scale")[0], q->act_scale.item<float>()) << conv;
    }
    // An output pair exactly where the plan rounds the output, at the observed step.
    if (q->plan(0).round_output) {
      ASSERT_TRUE(init.count(conv + ".output_scale")) << conv;
      EXPECT_GT(q->output_step(), 0.f) << conv;
      EXPECT_FLOAT_EQ(init.at(conv + ".output_scale")[0], q->output_step()) << conv;
      ++outputs;
    } else {
      EXPECT_EQ(init.count(conv + ".output_scale"), 0u) << conv << " should have a float output";
      ++conv_bn;
    }
    EXPECT_EQ(init.count(conv + ".weight"), 0u) << conv << " should be int8";
  }
  EXPECT_GT(outputs, 0);
  // The heads' pointwise convs (model outputs) and the convs feeding the float SE blocks stay float.
  EXPECT_GT(conv_bn, 0);
  EXPECT_GT(inputs, 0);
  EXPECT_LT(inputs, static_cast<int64_t>(rep.quantized.size()));  // some inputs are on a producer's grid
  int64_t skipped_float = 0;
  for (const auto& p : rep.skipped) skipped_float += init.count(p + ".weight");
  EXPECT_EQ(skipped_float, static_cast<int64_t>(rep.skipped.size()));  // se_block convs stay float
  expect_verified(verify_export(*model, d.file("int8.onnx"), cfg, 8), "SSDLite QAT int8");
}

TEST(Export, AnOutputThatWasAlwaysZeroShipsAtTheFloorStep) {
  // A ReLU conv that never fires on the observed data (here forced: gamma 0,
  // beta -1, so every output is 0; the last such conv, inside a residual
  // unit, so that the layers after it still see varied data) was observed,
  // unlike a quantizer that never saw data: its output step is float32's
  // epsilon (torch.ao's floor), the same in the simulation and the file, and
  // the export verifies. Before the floor it kept step 0 and export refused
  // it as "never saw data".
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  const Config cfg = config_from_string("", testutil::tiny_ssd_overrides(d, 96));
  auto model = testutil::tiny_qat_ssd_unobserved(cfg, {"se_block"}).first;
  std::string dead;
  const quant::ConvQuantImpl* dead_q = nullptr;
  for (const auto& m : model->named_modules()) {
    auto* l = dynamic_cast<ConvBNLayerImpl*>(m.value().get());
    if (!l || l->act != Act::ReLU || !l->bn) continue;
    auto* q = dynamic_cast<quant::ConvQuantImpl*>(l->conv_quant.get());
    if (!q || !q->plan(0).round_output) continue;
    dead = m.key();
    dead_q = q;
  }
  ASSERT_FALSE(dead.empty()) << "no ReLU conv with a rounded output in the tiny SSDLite";
  {
    auto l = model->named_modules()[dead]->as<ConvBNLayer>();
    torch::NoGradGuard g;
    l->bn->weight.zero_();
    l->bn->bias.fill_(-1.0);
  }
  dead += ".conv";
  torch::manual_seed(0);
  observe_random_batches(model, {2, 3, 96, 96});
  ExportOptions o;
  o.height = o.width = 96;
  export_onnx(*model, d.file("dead.onnx"), o);
  const auto init = onnx_export::read_float_initializers(d.file("dead.onnx"));
  constexpr float eps = 1.1920928955078125e-07f;
  EXPECT_EQ(dead_q->output_step(), eps) << dead << ": the simulation's step";
  ASSERT_TRUE(init.count(dead + ".output_scale")) << dead;
  EXPECT_EQ(init.at(dead + ".output_scale")[0], eps) << dead << ": the file's step";
  expect_verified(verify_export(*model, d.file("dead.onnx"), cfg, 8), "SSDLite QAT with an all-zero layer");
}

TEST(Export, VerifyNamesTheOneLayerWhoseScaleIsTwoPercentOff) {
  // The mutation check of `export --verify`: the file's input scale of one conv
  // in the middle of the network, 2% off. Layer by layer, every other int8
  // tensor still agrees (each layer runs on the file's own inputs), and the
  // first disagreeing one is that conv's input.
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  const Config cfg = config_from_string("", testutil::tiny_ssd_overrides(d, 96));
  ExportOptions o;
  o.height = o.width = 96;
  const auto [model, rep] = tiny_qat_ssd(cfg);
  export_onnx(*model, d.file("int8.onnx"), o);
  const auto clean = verify_export(*model, d.file("int8.onnx"), cfg, 8);
  ASSERT_TRUE(clean.layers.ok) << clean.table();
  ASSERT_GT(clean.layers.rows.size(), 20u);
  int64_t elements = 0, ties = 0;
  for (const auto& r : clean.layers.rows) {
    EXPECT_GE(r.same[0], 0.9999) << r.conv << " " << r.kind;
    EXPECT_GE(r.same[1], 0.9999) << r.conv << " " << r.kind;
    elements += r.elements;
    ties += r.ties[0] + r.ties[1];
  }
  // Boundary ties are rare (a trained fashion SSDLite-Small: 38 and 50 over its 116 int8 tensors).
  EXPECT_LE(ties, elements / 10000) << clean.layers.table();
  // The middle one, in model order, of the convs that round their own input.
  const auto init = onnx_export::read_float_initializers(d.file("int8.onnx"));
  std::vector<std::string> own_input;
  for (const auto& c : rep.quantized)
    if (init.count(c + ".input_scale")) own_input.push_back(c);
  ASSERT_GT(own_input.size(), 4u);
  const std::string victim = own_input[own_input.size() / 2];
  onnx_export::scale_float_initializer(d.file("int8.onnx"), victim + ".input_scale", 1.02f);
  const auto bad = verify_export(*model, d.file("int8.onnx"), cfg, 8);
  EXPECT_FALSE(bad.ok);
  EXPECT_FALSE(bad.layers.ok) << bad.layers.table(200);
  EXPECT_EQ(bad.layers.first_bad.rfind(victim + " input:", 0), 0u) << bad.layers.first_bad;
  int64_t failing = 0;
  for (const auto& r : bad.layers.rows) failing += std::min(r.same[0], r.same[1]) < 0.9999;
  EXPECT_LE(failing, 2) << bad.layers.table();  // that input, and at most the output it feeds
  // The same through the CLI's message.
  EXPECT_NE(bad.layers.table().find("First disagreeing layer: " + victim + " input"), std::string::npos);
}

TEST(Export, WhatQdqCannotHoldIsRefusedNamingTheKey) {
  // 4-bit activations, 12-bit weights and per-batch abs_max activations have no
  // exact QDQ form: errors naming the key, never a silently wrong file.
  testutil::TempDir d;
  ExportOptions o;
  o.height = o.width = 64;
  struct Case {
    const char* key;
    std::function<void(quant::QuantOptions&)> set;
  };
  const Case cases[] = {{"quant.activation_bits", [](quant::QuantOptions& q) { q.activation_bits = 4; }},
                        {"quant.weight_bits", [](quant::QuantOptions& q) { q.weight_bits = 12; }},
                        {"quant.activation_quantize_type = abs_max", [](quant::QuantOptions& q) {
                           q.activation_quantize_type = quant::ActivationQuantizeType::AbsMax;
                         }}};
  for (const auto& c : cases) {
    auto model = build_detector(
        config_from_string("", {"num_classes=3", "MobileNetV3.model_name=small", "MobileNetV3.scale=0.5"}));
    quant::QuantOptions qo;
    c.set(qo);
    quant::apply_qat(*model, qo);
    torch::manual_seed(0);
    observe_random_batches(model, {4, 3, 64, 64});
    try {
      export_onnx(*model, d.file("x.onnx"), o);
      ADD_FAILURE() << c.key << " exported";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.key), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(d.file("x.onnx"))) << c.key;
  }
  // 4-bit weights are a subset of the int8 grid: exported, at max|W_c| / 7.
  auto model = build_detector(
      config_from_string("", {"num_classes=3", "MobileNetV3.model_name=small", "MobileNetV3.scale=0.5"}));
  quant::QuantOptions qo;
  qo.weight_bits = 4;
  quant::apply_qat(*model, qo);
  torch::manual_seed(0);
  observe_random_batches(model, {4, 3, 64, 64});
  export_onnx(*model, d.file("w4.onnx"), o);
  const auto init = onnx_export::read_float_initializers(d.file("w4.onnx"));
  const auto wf = model->named_modules()["backbone.conv1"]->as<ConvBNLayer>()->folded_weight_bias().first.detach();
  const auto want = wf.abs().reshape({wf.size(0), -1}).amax(1) / 7;
  EXPECT_FLOAT_EQ(init.at("backbone.conv1.conv.weight_scale")[0], want[0].item<float>());
  // reduce_range: 8-bit weights on [-63, 63], at max|W_c| / 63, in the simulation and the file alike.
  auto rr = build_detector(
      config_from_string("", {"num_classes=3", "MobileNetV3.model_name=small", "MobileNetV3.scale=0.5"}));
  quant::QuantOptions ro;
  ro.reduce_range = true;
  quant::apply_qat(*rr, ro);
  torch::manual_seed(0);
  observe_random_batches(rr, {4, 3, 64, 64});
  export_onnx(*rr, d.file("rr.onnx"), o);
  const auto ri = onnx_export::read_float_initializers(d.file("rr.onnx"));
  const auto conv1 = rr->named_modules()["backbone.conv1"]->as<ConvBNLayer>();
  const auto wr = conv1->folded_weight_bias().first.detach();
  const auto want_r = wr.abs().reshape({wr.size(0), -1}).amax(1) / 63;
  EXPECT_FLOAT_EQ(ri.at("backbone.conv1.conv.weight_scale")[0], want_r[0].item<float>());
  const auto* q = dynamic_cast<quant::ConvQuantImpl*>(conv1->conv_quant.get());
  EXPECT_FLOAT_EQ(q->weight_scale[0].item<float>(), want_r[0].item<float>());
}

TEST(Export, SkippedLayersGetFloatInputsInTheFile) {
  // --not_quant_pattern res_conv1 se_block: no expand conv rounds its output
  // (its reader is float), no res_conv1 has an input pair; weights are int8 at
  // max|W_c| / 127 per channel; the file still verifies layer by layer.
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  const Config cfg = config_from_string("", testutil::tiny_ssd_overrides(d, 96));
  auto model = testutil::tiny_qat_ssd_unobserved(cfg, {"res_conv1", "se_block"}).first;
  observe_random_batches(model, {2, 3, 96, 96});
  ExportOptions o;
  o.height = o.width = 96;
  export_onnx(*model, d.file("skip.onnx"), o);
  const auto init = onnx_export::read_float_initializers(d.file("skip.onnx"));
  int64_t units = 0;
  for (const auto& m : model->named_modules()) {
    auto* u = dynamic_cast<ResidualUnitImpl*>(m.value().get());
    if (!u || !u->expand) continue;
    ++units;
    EXPECT_EQ(init.count(m.key() + ".expand.conv.output_scale"), 0u) << m.key();
    EXPECT_EQ(init.count(m.key() + ".res_conv1.conv.input_scale"), 0u) << m.key();
    EXPECT_TRUE(init.count(m.key() + ".res_conv1.conv.weight")) << m.key() << ": float weights";
    // The quantized expand conv: int8 weights at max|W_fold_c| / 127.
    EXPECT_EQ(init.count(m.key() + ".expand.conv.weight"), 0u) << m.key();
    const auto wf = u->expand->folded_weight_bias().first.detach();
    const auto want = wf.abs().reshape({wf.size(0), -1}).amax(1) / 127;
    const auto& got = init.at(m.key() + ".expand.conv.weight_scale");
    ASSERT_EQ(static_cast<int64_t>(got.size()), want.numel());
    for (int64_t c = 0; c < want.numel(); ++c) EXPECT_FLOAT_EQ(got[c], want[c].item<float>()) << m.key() << " " << c;
  }
  EXPECT_GT(units, 4);
  // Types and attributes of every QDQ node: weights int8 with int8 zero points
  // (0), per channel on axis 0; activations uint8 with zero point 0 (after ReLU)
  // or 128; biases int32 on axis 0 at input step x weight steps.
  const auto types = onnx_export::read_initializer_types(d.file("skip.onnx"));
  const auto floats = onnx_export::read_float_initializers(d.file("skip.onnx"));
  int64_t weights = 0, acts = 0, biases = 0;
  for (const auto& n : onnx_export::read_nodes(d.file("skip.onnx"))) {
    if (n.op != "DequantizeLinear" && n.op != "QuantizeLinear") continue;
    const auto& x = n.inputs[0];
    if (n.op == "DequantizeLinear" && types.count(x) && types.at(x) == 3) {  // int8 weight
      ++weights;
      EXPECT_EQ(types.at(n.inputs[2]), 3) << x;
      EXPECT_EQ(n.ints.count("axis") ? n.ints.at("axis") : 1, 0) << x;
      EXPECT_GT(floats.at(n.inputs[1]).size(), 1u) << x << ": one step per output channel";
    } else if (n.op == "DequantizeLinear" && types.count(x) && types.at(x) == 6) {  // int32 bias
      ++biases;
      EXPECT_EQ(n.ints.at("axis"), 0) << x;
      EXPECT_EQ(n.inputs.size(), 2u) << x << ": zero point left at its default 0";
    } else if (!types.count(x) || types.at(x) != 2) {  // an activation Q or DQ
      ++acts;
      ASSERT_EQ(n.inputs.size(), 3u) << n.name;
      EXPECT_EQ(types.at(n.inputs[2]), 2) << n.name << ": uint8 zero point";
      EXPECT_EQ(floats.at(n.inputs[1]).size(), 1u) << n.name << ": one step per tensor";
    }
  }
  EXPECT_GT(weights, 20);
  EXPECT_EQ(biases, weights);
  EXPECT_GT(acts, 20);
  EXPECT_EQ(acts % 2, 0) << "activation Qs and DQs come in pairs";
  const auto v = verify_export(*model, d.file("skip.onnx"), cfg, 8);
  EXPECT_TRUE(v.layers.ok) << v.table();
}

TEST(Export, Int8ConvsRunAsInt8KernelsInOnnxRuntime) {
  // With output quantization every quantized conv + BN is DQ -> Conv -> Q in
  // the file, which ONNX Runtime fuses into QLinearConv (on x86 only with uint8
  // activations); the float SE convs stay Conv.
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  const Config cfg = config_from_string("", testutil::tiny_ssd_overrides(d, 96));
  const auto [model, rep] = tiny_qat_ssd(cfg);
  // A saturated ReLU6 output whose step rounds just above 6/255 (as QAT gave
  // the fashion SSDLite-Large's heads): a Clip before its Q made ONNX Runtime
  // fuse the conv twice and reject the model; ReLU6 is written as Relu.
  int64_t relu6 = 0;
  for (const auto& m : model->modules())
    if (auto* l = dynamic_cast<ConvBNLayerImpl*>(m.get()); l && l->act == Act::ReLU6 && l->conv_quant) {
      auto* q = dynamic_cast<quant::ConvQuantImpl*>(l->conv_quant.get());
      q->out_scale.fill_(std::nextafter(6.f / 255, 1.f));
      ++relu6;
    }
  ASSERT_GT(relu6, 0);
  ExportOptions o;
  o.height = o.width = 96;
  export_onnx(*model, d.file("int8.onnx"), o);
  const auto file_ops = onnx_export::read_op_types(d.file("int8.onnx"));
  EXPECT_EQ(std::count(file_ops.begin(), file_ops.end(), std::string("Clip")), 0);
  ::setenv("COMPRESS_ORT_SAVE_OPTIMIZED", d.file("ort.onnx").c_str(), 1);
  run_onnxruntime(d.file("int8.onnx"), {torch::randn({1, 3, 96, 96})});
  ::unsetenv("COMPRESS_ORT_SAVE_OPTIMIZED");
  int64_t rounded = 0;  // quantized convs whose plan gives them an int8 output
  for (const auto& m : model->modules())
    if (auto* q = dynamic_cast<quant::ConvQuantImpl*>(m.get())) rounded += q->plan(0).round_output;
  int64_t qconv = 0, conv = 0, qadd = 0, qmul = 0;
  for (const auto& op : onnx_export::read_op_types(d.file("ort.onnx"))) {
    qconv += op == "QLinearConv";
    conv += op.find("Conv") != std::string::npos && op != "QLinearConv";
    qadd += op == "QLinearAdd";
    qmul += op == "QLinearMul";
  }
  // Every conv with an int8 output fuses; the rest (float output, or float) stay Conv.
  EXPECT_EQ(qconv, rounded) << conv << " other convs";
  EXPECT_EQ(conv, static_cast<int64_t>(rep.skipped.size() + rep.quantized.size()) - rounded);
  // h-swish after an int8 conv output is written without HardSigmoid and runs
  // as QLinearAdd (+ QLinearMul where a quantized conv reads it); the file's
  // HardSigmoids are the float SEs' and those of h-swish convs whose output the
  // plan keeps float (those feeding the float SE blocks).
  int64_t hswish = 0, hswish_float = 0, se = 0;
  for (const auto& m : model->modules()) {
    if (auto* l = dynamic_cast<ConvBNLayerImpl*>(m.get()); l && l->act == Act::HardSwish) {
      auto* q = dynamic_cast<quant::ConvQuantImpl*>(l->conv_quant.get());
      (q && q->plan(0).round_output ? hswish : hswish_float) += 1;
    }
    if (dynamic_cast<SEBlockImpl*>(m.get())) ++se;
  }
  ASSERT_GT(hswish, 0);
  ASSERT_GT(hswish_float, 0);
  EXPECT_EQ(std::count(file_ops.begin(), file_ops.end(), std::string("HardSigmoid")), se + hswish_float);
  EXPECT_GE(qadd, hswish);
  // The stem's and the expand convs' h-swish feed one quantized conv each.
  EXPECT_GT(qmul, 0) << qadd << " QLinearAdd, " << hswish << " h-swish convs";
  // Without output quantization (the reference's inputs-only scheme) only the
  // convs whose ReLU output goes straight into another quantized conv fuse.
  export_onnx(*tiny_qat_ssd(cfg, false).first, d.file("inputs_only.onnx"), o);
  ::setenv("COMPRESS_ORT_SAVE_OPTIMIZED", d.file("ort2.onnx").c_str(), 1);
  run_onnxruntime(d.file("inputs_only.onnx"), {torch::randn({1, 3, 96, 96})});
  ::unsetenv("COMPRESS_ORT_SAVE_OPTIMIZED");
  const auto ops = onnx_export::read_op_types(d.file("ort2.onnx"));
  const auto fused = std::count(ops.begin(), ops.end(), std::string("QLinearConv"));
  EXPECT_GT(fused, 0);
  EXPECT_LT(fused, qconv);
}

TEST(Export, Int8FileIsAboutFourTimesSmaller) {
  // The full-width SSDLite-MobileNetV3-Small (1.6 M weights), everything quantized.
  testutil::TempDir d;
  auto model = build_detector(config_from_string("", {"MobileNetV3.model_name=small", "num_classes=10"}));
  ExportOptions o;
  o.height = o.width = 96;
  export_onnx(*model, d.file("float.onnx"), o);
  quant::apply_qat(*model, quant::QuantOptions{});
  // Quantizers that never saw data have no scale: exporting them is a clear error.
  try {
    export_onnx(*model, d.file("int8.onnx"), o);
    FAIL() << "an untrained QAT model exported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("never saw data"), std::string::npos) << e.what();
  }
  model->train();
  {
    torch::NoGradGuard g;
    model->forward(torch::randn({2, 3, 96, 96}));
  }
  model->eval();
  export_onnx(*model, d.file("int8.onnx"), o);
  const double ratio = double(fs::file_size(d.file("float.onnx"))) / fs::file_size(d.file("int8.onnx"));
  // int8 weights; int32 biases with their per-channel steps, activation scales and priors remain.
  EXPECT_GT(ratio, 3.2) << ratio;
  EXPECT_LT(ratio, 4.0) << ratio;
}

TEST(Export, BadInputAreClearErrors) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  std::string o;
  for (const auto& s : testutil::tiny_ssd_overrides(d, 96)) o += " -o '" + s + "'";
  auto r = testutil::run_cli("export -c " + testutil::source_path("configs/fashion/ssdlite_mobilenet_v3_small.yml") +
                             o + " -w " + d.file("missing.pt") + " --output " + d.file("m.onnx"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("missing.pt"), std::string::npos) << r.output;
  // An output path that cannot be written (its parent is a file).
  auto model = build_detector(config_from_string("", testutil::tiny_ssd_overrides(d, 96)));
  testutil::write_text(d.file("a_file"), "x");
  ExportOptions eo;
  eo.height = eo.width = 96;
  try {
    export_onnx(*model, d.file("a_file") + "/m.onnx", eo);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write"), std::string::npos) << e.what();
  }
  // A module the exporter cannot express is named by its path.
  model->register_module("extra_fc", torch::nn::Linear(4, 4));
  try {
    export_onnx(*model, d.file("m.onnx"), eo);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'extra_fc'"), std::string::npos) << e.what();
  }
}

TEST(Export, ApBracketSpansTheOrdersOfNearTies) {
  // One GT box in image 2. A miss in image 1 and an exact hit in image 2 score
  // the same: the evaluator keeps image order on ties, so the miss ranks first
  // and precision at full recall is 1/2 at every IoU threshold: AP 0.5. Once
  // the scores may move by eps either order is possible: AP 0.5 to 1.
  CocoFile gt;
  gt.images = {{1, "a.png", 64, 64}, {2, "b.png", 64, 64}};
  gt.categories = {{1, "shirt"}};
  CocoAnnotation a;
  a.id = 1, a.image_id = 2, a.category_id = 1, a.area = 400;
  a.bbox[0] = 10, a.bbox[1] = 10, a.bbox[2] = 20, a.bbox[3] = 20;
  gt.annotations = {a};
  CocoDetection miss, hit;
  miss.image_id = 1, hit.image_id = 2;
  miss.category_id = hit.category_id = 1;
  miss.score = hit.score = 0.5;
  for (int k = 0; k < 4; ++k) miss.bbox[k] = hit.bbox[k] = a.bbox[k];
  const std::vector<CocoDetection> dets{hit, miss};  // list order does not matter: image order does
  auto [lo0, hi0] = ap_bracket(gt, dets, 0.0);
  EXPECT_NEAR(lo0, 0.5, 1e-12);
  EXPECT_NEAR(hi0, 0.5, 1e-12);
  auto [lo, hi] = ap_bracket(gt, dets, 1e-6);
  EXPECT_NEAR(lo, 0.5, 1e-12);
  EXPECT_NEAR(hi, 1.0, 1e-12);
  // A clear winner stays put: the hit 0.1 above the miss gives AP 1 at either end.
  auto clear = dets;
  clear[0].score = 0.6;
  auto [lo1, hi1] = ap_bracket(gt, clear, 1e-6);
  EXPECT_NEAR(lo1, 1.0, 1e-12);
  EXPECT_NEAR(hi1, 1.0, 1e-12);
}

// The int8 AP rule, on figures measured here: a PTQ SSDLite-Small on 32 images,
// where LibTorch's own AP moves by 0.9 points when its weights move by 1e-6.
TEST(ExportVerify, Int8ApMustBeAPlausibleDrawOfLibTorchsOwn) {
  const double torch_ap = 0.100408;
  const std::vector<double> self{0.0994348, 0.0967959, 0.0962043, 0.0980546, 0.1009, 0.0975, 0.0991, 0.0970};
  // With LibTorch's own AP: mean 0.09838, sd 0.00166, so 4 sd = 0.0067 around the mean.
  EXPECT_TRUE(int8_ap_agrees(0.0919418, torch_ap, self));  // ONNX Runtime's, 0.85 points below LibTorch: 3.9 sd
  EXPECT_FALSE(int8_ap_agrees(0.0900, torch_ap, self));    // 5.0 sd below the mean
  EXPECT_FALSE(int8_ap_agrees(0.1070, torch_ap, self));    // 5.2 sd above
  // Without draws, or when LibTorch does not move, 0.3 points.
  EXPECT_TRUE(int8_ap_agrees(0.1030, torch_ap, {}));
  EXPECT_FALSE(int8_ap_agrees(0.1040, torch_ap, {}));
  EXPECT_FALSE(int8_ap_agrees(0.1040, torch_ap, {torch_ap, torch_ap}));
}
