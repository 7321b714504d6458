// The oneDNN runtime (compress/runtime/) against ONNX Runtime and the LibTorch
// simulation: float SSDLite and YOLOv3 (both backbones, pruned) within 1e-4 of
// ONNX Runtime; int8 SSDLite with every conv in int8, its QuantizeLinear
// written by the conv, and every int8 tensor's codes identical to the
// simulation's on >= 99.99% of elements; a corrupted scale named; Cascade
// R-CNN's proposals and stages, float and int8; bad files.
#include <gtest/gtest.h>
#include <omp.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <map>

#include "compress/export/onednn_runner.h"
#include "compress/export/onnx_eval.h"
#include "compress/export/onnx_export.h"
#include "compress/export/onnx_graph.h"
#include "compress/export/ort_runner.h"
#include "compress/export/verify_layers.h"
#include "compress/prune/report.h"
#include "compress/quant/conv_quant.h"
#include "compress/quant/qat.h"
#include "compress/runtime/conv.h"
#include "compress/runtime/model.h"
#include "compress/runtime/parallel.h"
#include "compress/runtime/session.h"
#include "tests/export_fixture.h"
#include "tests/prune_fixture.h"
#include "tests/train_fixture.h"
#include "train/config/config.h"
#include "train/engine/evaluate.h"
#include "train/models/cascade_rcnn.h"
#include "train/models/layers.h"
#include "train/models/rcnn/roi_align.h"
#include "train/util/error.h"

using namespace compress;

namespace {

// Every output of the file in both engines on the same batches: the largest
// difference relative to max(1, |ONNX Runtime's value|); `where`: that output's name.
double worst_relative(const std::string& path, const std::vector<torch::Tensor>& xs, std::string* where = nullptr) {
  const auto ort = run_onnxruntime(path, xs);
  const auto dnn = run_onednn(path, xs);
  EXPECT_EQ(ort.names, dnn.names);
  double worst = 0;
  for (size_t b = 0; b < xs.size(); ++b)
    for (size_t i = 0; i < ort.outputs[b].size(); ++i) {
      const auto& r = ort.outputs[b][i];
      const auto& t = dnn.outputs[b][i];
      EXPECT_EQ(r.sizes(), t.sizes()) << ort.names[i];
      if (r.sizes() != t.sizes()) return 1e9;
      if (r.numel() == 0) continue;
      const double scale = std::max(1.0, r.abs().max().item<double>());
      const double e = (r - t).abs().max().item<double>() / scale;
      if (e > worst && where) *where = ort.names[i];
      worst = std::max(worst, e);
    }
  return worst;
}

// The tiny QAT YOLOv3-MobileNetV3 (se_block float, seeded), observed on
// random 64 px batches and exported at 64 px to `path`.
std::pair<Detector, quant::QuantReport> int8_yolo_onnx(const testutil::TempDir& d, const std::string& path,
                                                       bool round_after_activation) {
  testutil::make_tiny_fashion(d, 8, 96);
  torch::manual_seed(0);
  auto model = build_detector(config_from_string("", testutil::tiny_yolo_overrides(d, 64)));
  testutil::randomize_bn(*model);
  quant::QuantOptions qo;
  qo.not_quant_pattern = {"se_block"};
  qo.round_after_activation = round_after_activation;
  auto rep = quant::apply_qat(*model, qo);
  testutil::observe_random_batches(model, {2, 3, 64, 64});
  ExportOptions eo;
  eo.height = eo.width = 64;
  export_onnx(*model, path, eo);
  return {model, rep};
}

// The tiny QAT SSDLite (seeded: its weights and the observers' batches),
// exported at `size` px to `path`. `all_convs`: the SE convs quantized too
// (else se_block stays float), with quant.round_after_activation.
std::pair<Detector, quant::QuantReport> int8_ssd_onnx(const testutil::TempDir& d, int64_t size, const std::string& path,
                                                      bool all_convs_round_after_activation = false) {
  torch::manual_seed(0);
  testutil::make_tiny_fashion(d, 8, 96);
  const Config cfg = config_from_string("", testutil::tiny_ssd_overrides(d, 96));
  auto made = all_convs_round_after_activation ? testutil::tiny_qat_ssd_unobserved(cfg, {}, true, true)
                                               : testutil::tiny_qat_ssd(cfg);
  if (all_convs_round_after_activation) testutil::observe_random_batches(made.first, {2, 3, 96, 96});
  ExportOptions o;
  o.height = o.width = size;
  export_onnx(*made.first, path, o);
  return made;
}

}  // namespace

TEST(Runtime, FloatSsdliteMatchesOnnxRuntime) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  const Config cfg = config_from_string("", testutil::tiny_ssd_overrides(d, 96));
  auto model = build_detector(cfg);
  testutil::randomize_bn(*model);
  ExportOptions o;
  o.height = o.width = 96;
  o.with_postprocess = true;  // the decode: Slice, Exp, Concat, Softmax
  export_onnx(*model, d.file("ssd.onnx"), o);
  torch::manual_seed(1);
  EXPECT_LE(worst_relative(d.file("ssd.onnx"), {torch::randn({1, 3, 96, 96}), torch::randn({2, 3, 96, 96})}), 1e-4);
  runtime::Session s(d.file("ssd.onnx"));
  // Every conv runs in f32 with its activations fused: no HardSigmoid, Clip or
  // Relu node is left outside the SE blocks' gates.
  EXPECT_EQ(s.summary().int8_convs, 0);
  EXPECT_GT(s.summary().float_convs, 20);
  EXPECT_GT(s.summary().fused_post_ops, s.summary().float_convs / 2);
}

TEST(Runtime, FloatYolov3BothBackbonesAndPrunedMatchOnnxRuntime) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  for (const std::string bb : {"MobileNetV3", "ResNet", "pruned"}) {
    auto o = testutil::tiny_yolo_overrides(d, 64);
    o.push_back(std::string("YOLOv3.backbone=") + (bb == "ResNet" ? "ResNet" : "MobileNetV3"));
    o.push_back("ResNet.depth=18");
    const Config cfg = config_from_string("", o);
    auto model = build_detector(cfg);
    testutil::randomize_bn(*model);
    if (bb == "pruned") prune::prune_model(*model, testutil::reference_head_specs(), "geometry_median", 64);
    ExportOptions eo;
    eo.height = eo.width = 64;
    eo.with_postprocess = bb != "ResNet";
    export_onnx(*model, d.file(bb + ".onnx"), eo);
    torch::manual_seed(2);
    EXPECT_LE(worst_relative(d.file(bb + ".onnx"), {torch::randn({1, 3, 64, 64})}), 1e-4) << bb;
  }
}

TEST(Runtime, Int8SsdliteRunsInt8ConvsWithTheSimulationsCodes) {
  // Without VNNI, oneDNN's u8 x s8 kernels sum pairs into saturating int16
  // (as ONNX Runtime's do by default): codes can differ there, and the check
  // would rightly say so (docs/runtime.md).
  if (!cpu_has_vnni()) GTEST_SKIP() << "this CPU has no VNNI";
  testutil::TempDir d;
  const auto [model, rep] = int8_ssd_onnx(d, 96, d.file("int8.onnx"));
  runtime::Session s(d.file("int8.onnx"));
  int64_t rounded = 0;
  for (const auto& m : model->modules())
    if (auto* q = dynamic_cast<quant::ConvQuantImpl*>(m.get())) rounded += q->plan(0).round_output;
  // Each quantized conv is one int8 oneDNN conv, each rounded output written by it.
  EXPECT_EQ(s.summary().int8_convs, static_cast<int64_t>(rep.quantized.size()));
  EXPECT_EQ(s.summary().float_convs, static_cast<int64_t>(rep.skipped.size()));
  EXPECT_EQ(s.summary().fused_quantize, rounded);
  // The int8 h-swish after every h-swish conv with a rounded output is one
  // kernel; the residual adds feeding a quantized conv write codes.
  int64_t hswish_rounded = 0;
  for (const auto& m : model->modules())
    if (auto* l = dynamic_cast<ConvBNLayerImpl*>(m.get()); l && l->act == Act::HardSwish && l->conv_quant)
      hswish_rounded += dynamic_cast<quant::ConvQuantImpl*>(l->conv_quant.get())->plan(0).round_output;
  ASSERT_GT(hswish_rounded, 0);
  EXPECT_EQ(s.summary().int8_hard_swish, hswish_rounded);
  EXPECT_GT(s.summary().fused_binary_quantize, 0);
  torch::manual_seed(3);
  std::vector<torch::Tensor> images = {torch::randn({2, 3, 96, 96}), torch::randn({2, 3, 96, 96})};
  const auto v = verify_layers(*model, d.file("int8.onnx"), images, 0.9999, "onednn");
  EXPECT_TRUE(v.ok) << v.table(200);
  ASSERT_GT(v.rows.size(), 20u);
  for (const auto& r : v.rows) EXPECT_GE(r.same[0], 0.9999) << r.conv << " " << r.kind;
  // The model outputs (float) agree with ONNX Runtime's as closely as its two
  // optimization levels agree with each other, up to a few boundary flips.
  EXPECT_LE(worst_relative(d.file("int8.onnx"), {images[0]}), 0.05);
  // Mutation: one conv's input scale 2% off is found, by name.
  const auto init = onnx_export::read_float_initializers(d.file("int8.onnx"));
  std::string victim;
  for (const auto& c : rep.quantized)
    if (init.count(c + ".input_scale")) victim = c;
  ASSERT_FALSE(victim.empty());
  onnx_export::scale_float_initializer(d.file("int8.onnx"), victim + ".input_scale", 1.02f);
  const auto bad = verify_layers(*model, d.file("int8.onnx"), images, 0.9999, "onednn");
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.first_bad.rfind(victim + " input:", 0), 0u) << bad.first_bad;
}

TEST(Runtime, HardSwishFloatsAreReadFromTheirCodesWithTheSimulationsCodes) {
  // Every conv quantized, SE blocks included: the int8 h-swish after each SE
  // block's depthwise conv (and after the stem, before block 0's residual
  // add) has float readers, the pool and the gate, which read its codes
  // (value.h, HardSwishOnCodes) where the CPU has AVX-512 VBMI and get its
  // floats made first where it has not (ctest runs this under
  // COMPRESS_SIMD=0 and novbmi too). Every int8 tensor's codes, the gates'
  // included, against the simulation.
  if (!cpu_has_vnni()) GTEST_SKIP() << "this CPU has no VNNI";
  testutil::TempDir d;
  torch::manual_seed(0);
  testutil::make_tiny_fashion(d, 8, 96);
  const Config cfg = config_from_string("", testutil::tiny_ssd_overrides(d, 96));
  auto [model, rep] = testutil::tiny_qat_ssd_unobserved(cfg, {});
  testutil::observe_random_batches(model, {2, 3, 96, 96});
  ExportOptions o;
  o.height = o.width = 96;
  export_onnx(*model, d.file("int8.onnx"), o);
  runtime::Session s(d.file("int8.onnx"));
  int64_t float_hswish = 0, pools = 0;
  for (const auto& t : s.describe()) {
    float_hswish += t.find(": int8 h-swish") != std::string::npos && t.find("-> codes") == std::string::npos;
    pools += t.find("GlobalAveragePool") != std::string::npos;
  }
  // MobileNetV3-Small: 9 SE blocks, the first after a ReLU, the other 8 after an h-swish.
  EXPECT_EQ(pools, 9);
  EXPECT_EQ(float_hswish, 8);
  torch::manual_seed(6);
  const auto v = verify_layers(*model, d.file("int8.onnx"), {torch::randn({2, 3, 96, 96})}, 0.9999, "onednn");
  EXPECT_TRUE(v.ok) << v.table(200);
  int64_t gates = 0;
  for (const auto& r : v.rows) {
    EXPECT_GE(r.same[0], 0.9999) << r.conv << " " << r.kind;
    gates += r.conv.find("linear") != std::string::npos && r.kind == "input";
  }
  EXPECT_GT(gates, 0);
}

TEST(Runtime, RoundAfterActivationMakesEachActivationPartOfItsInt8Conv) {
  // quant.round_after_activation: the file has Conv -> h-swish / LeakyRelu /
  // HardSigmoid -> QuantizeLinear, and the runtime runs each as one int8 conv
  // with the activation as a post-op writing the codes: no int8 h-swish or
  // LeakyRelu tables are left, every rounded output is written by its conv,
  // and every int8 tensor's codes are still the simulation's.
  if (!cpu_has_vnni()) GTEST_SKIP() << "this CPU has no VNNI";
  torch::manual_seed(3);
  const std::vector<torch::Tensor> images = {torch::randn({2, 3, 96, 96})};
  auto rounded_of = [](DetectorImpl& model, bool non_relu_only) {
    int64_t n = 0;
    for (const auto& m : model.modules())
      if (auto* q = dynamic_cast<quant::ConvQuantImpl*>(m.get())) n += q->plan(0).round_output;
    if (!non_relu_only) return n;
    n = 0;  // only the convs whose activation the default contract rounds before
    for (const auto& m : model.modules())
      if (auto* l = dynamic_cast<ConvBNLayerImpl*>(m.get());
          l && l->conv_quant && (l->act == Act::HardSwish || l->act == Act::LeakyReLU))
        n += dynamic_cast<quant::ConvQuantImpl*>(l->conv_quant.get())->plan(0).round_output;
    return n;
  };
  {
    testutil::TempDir d;
    const auto [model, rep] = int8_ssd_onnx(d, 96, d.file("int8.onnx"), /*all_convs_round_after_activation=*/true);
    ASSERT_TRUE(rep.skipped.empty());
    ASSERT_GT(rounded_of(*model, true), 10);
    runtime::Session s(d.file("int8.onnx"));
    EXPECT_EQ(s.summary().int8_hard_swish, 0);
    EXPECT_EQ(s.summary().int8_convs, static_cast<int64_t>(rep.quantized.size()));
    EXPECT_EQ(s.summary().fused_quantize, rounded_of(*model, false));
    // The SE gates (hard-sigmoid, never negative) are on the unsigned grid:
    // zero point 0 in the file for each se_block.conv2's output.
    const auto m = runtime::load_model(d.file("int8.onnx"));
    int64_t gates = 0;
    for (const auto& n : m.nodes)
      if (n.op == "QuantizeLinear" && n.name.find("se_block.conv2") != std::string::npos &&
          n.name.find("output") != std::string::npos) {
        ++gates;
        const auto& zp = m.constants.at(n.inputs[2]);
        EXPECT_EQ(zp.type, runtime::DType::u8) << n.name;
        EXPECT_EQ(zp.data<uint8_t>()[0], 0) << n.name;
      }
    EXPECT_GT(gates, 0);
    const auto v = verify_layers(*model, d.file("int8.onnx"), images, 0.9999, "onednn");
    EXPECT_TRUE(v.ok) << v.table(200);
    for (const auto& r : v.rows) EXPECT_GE(r.same[0], 0.9999) << r.conv << " " << r.kind;
    EXPECT_LE(worst_relative(d.file("int8.onnx"), {images[0]}), 0.05);
  }
  {
    testutil::TempDir d;
    const auto [model, rep] = int8_yolo_onnx(d, d.file("int8.onnx"), /*round_after_activation=*/true);
    runtime::Session s(d.file("int8.onnx"));
    ASSERT_GT(rounded_of(*model, true), 10);
    EXPECT_EQ(s.summary().int8_leaky_relu, 0);
    EXPECT_EQ(s.summary().int8_hard_swish, 0);
    EXPECT_EQ(s.summary().fused_quantize, rounded_of(*model, false));
    const std::vector<torch::Tensor> small = {torch::randn({2, 3, 64, 64})};
    const auto v = verify_layers(*model, d.file("int8.onnx"), small, 0.9999, "onednn");
    EXPECT_TRUE(v.ok) << v.table(200);
    for (const auto& r : v.rows) EXPECT_GE(r.same[0], 0.9999) << r.conv << " " << r.kind;
    EXPECT_LE(worst_relative(d.file("int8.onnx"), {small[0]}), 0.05);
  }
}

TEST(Runtime, Int8Yolov3RunsEachLeakyReluAsOneTableWithTheSimulationsCodes) {
  // YOLOv3-MobileNetV3 in int8: after each conv whose output is rounded,
  // DequantizeLinear -> LeakyRelu -> QuantizeLinear (one per reading conv's
  // grid) is one table lookup from the conv's codes; the upsample's input
  // (a float reader) gets the floats. The routes' Concat -> QuantizeLinear
  // runs on codes (the Resize too). Every int8 tensor's codes must stay the
  // simulation's, and the outputs ONNX Runtime's.
  if (!cpu_has_vnni()) GTEST_SKIP() << "this CPU has no VNNI";
  testutil::TempDir d;
  const auto [model, rep] = int8_yolo_onnx(d, d.file("int8.onnx"), /*round_after_activation=*/false);
  runtime::Session s(d.file("int8.onnx"));
  int64_t leaky_rounded = 0;
  for (const auto& m : model->modules())
    if (auto* l = dynamic_cast<ConvBNLayerImpl*>(m.get()); l && l->act == Act::LeakyReLU && l->conv_quant)
      leaky_rounded += dynamic_cast<quant::ConvQuantImpl*>(l->conv_quant.get())->plan(0).round_output;
  ASSERT_GT(leaky_rounded, 10);
  EXPECT_EQ(s.summary().int8_leaky_relu, leaky_rounded);
  // Each route (upsampled map + backbone map, then the next conv's
  // QuantizeLinear) runs on codes: counted from the file.
  const auto m = runtime::load_model(d.file("int8.onnx"));
  int64_t routes = 0;
  for (const auto& n : m.nodes)
    if (n.op == "Concat") {
      int64_t readers = 0, quantizers = 0;
      for (const auto& r : m.nodes)
        for (const auto& i : r.inputs)
          if (i == n.outputs[0]) ++readers, quantizers += r.op == "QuantizeLinear";
      routes += readers == 1 && quantizers == 1;
    }
  ASSERT_EQ(routes, 2);
  EXPECT_EQ(s.summary().concat_on_codes, routes);
  EXPECT_EQ(s.summary().int8_convs, static_cast<int64_t>(rep.quantized.size()));
  torch::manual_seed(3);
  std::vector<torch::Tensor> images = {torch::randn({2, 3, 64, 64}), torch::randn({2, 3, 64, 64})};
  const auto v = verify_layers(*model, d.file("int8.onnx"), images, 0.9999, "onednn");
  EXPECT_TRUE(v.ok) << v.table(200);
  ASSERT_GT(v.rows.size(), 40u);
  for (const auto& r : v.rows) EXPECT_GE(r.same[0], 0.9999) << r.conv << " " << r.kind;
  EXPECT_LE(worst_relative(d.file("int8.onnx"), {images[0]}), 0.05);
}

TEST(Runtime, HardSwishFeatureMapsWriteEachHeadsCodesFromTheirOwnTable) {
  // The feature maps SSDLite's heads read are h-swish outputs that three
  // convs quantize: the next block's and the loc and conf heads' depthwise
  // convs. Each grid gets one table over the conv's bytes and one tensor of
  // codes; no QuantizeLinear step reads the h-swish's floats.
  if (!cpu_has_vnni()) GTEST_SKIP() << "this CPU has no VNNI";
  testutil::TempDir d;
  const auto [model, rep] = int8_ssd_onnx(d, 96, d.file("int8.onnx"));
  auto step_for = [](const runtime::Session& s, const std::string& what) {
    int64_t n = 0;
    for (const auto& t : s.describe()) n += t.find(what) != std::string::npos;
    return n;
  };
  const std::vector<std::string> heads = {"loc.0.dw", "conf.0.dw"};
  {
    // As trained, the three observers saw the same tensor: one grid, so the
    // heads' QuantizeLinears are the block's codes, with no step of their own.
    const auto init = onnx_export::read_float_initializers(d.file("int8.onnx"));
    runtime::Session s(d.file("int8.onnx"));
    for (const auto& h : heads) {
      ASSERT_TRUE(init.count(h + ".conv.input_scale")) << h;
      EXPECT_EQ(step_for(s, h + ".conv.input_q"), 0) << h;
    }
  }
  // Three grids: the heads' input steps set 1.5x and 0.7x in the model (so
  // the simulation and the file agree), then each head's codes must come
  // from its own table, identical to the simulation's.
  {
    torch::NoGradGuard g;
    const float factor[] = {1.5f, 0.7f};
    for (size_t i = 0; i < heads.size(); ++i) {
      auto l = model->named_modules()[heads[i]]->as<ConvBNLayer>();
      ASSERT_TRUE(l && l->conv_quant) << heads[i];
      dynamic_cast<quant::ConvQuantImpl*>(l->conv_quant.get())->act_scale.mul_(factor[i]);
    }
  }
  ExportOptions o;
  o.height = o.width = 96;
  export_onnx(*model, d.file("grids.onnx"), o);
  runtime::Session s(d.file("grids.onnx"));
  for (const auto& h : heads)
    EXPECT_EQ(step_for(s, "hswish/Mul -> " + h + ".conv.input_q/QuantizeLinear: int8 h-swish -> codes"), 1) << h;
  torch::manual_seed(5);
  const auto v = verify_layers(*model, d.file("grids.onnx"), {torch::randn({2, 3, 96, 96})}, 0.9999, "onednn");
  EXPECT_TRUE(v.ok) << v.table(200);
  int64_t checked = 0;
  for (const auto& r : v.rows)
    for (const auto& h : heads)
      if (r.conv == h + ".conv" && r.kind == "input") {
        EXPECT_GE(r.same[0], 0.9999) << h;
        ++checked;
      }
  EXPECT_EQ(checked, 2);
}

TEST(Runtime, ElementwisePassesSplitIntoAlignedRangesThatCoverEveryElement) {
  // 300,001 items on 2 threads (each over the grain of 131,072): two ranges,
  // the first ending on a multiple of 64 (150,000 rounded down: 149,952),
  // together [0, n) once; below the grain, one range on the caller.
  ASSERT_EQ(runtime::parallel_grain(), 131072);
  runtime::set_threads(2);
  std::vector<int> seen(300001, 0);
  std::vector<std::pair<int64_t, int64_t>> ranges(2, {-1, -1});
  runtime::parallel_ranges(300001, [&](int64_t b, int64_t e) {
    ranges[omp_get_thread_num()] = {b, e};
    for (int64_t k = b; k < e; ++k) ++seen[k];
  });
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 300001);
  EXPECT_EQ(ranges[0], std::make_pair(int64_t{0}, int64_t{149952}));
  EXPECT_EQ(ranges[1], std::make_pair(int64_t{149952}, int64_t{300001}));
  // Items of 300 elements (a pixel's channels): 1,000 items are 300,000
  // elements, one range per thread; 400 are 120,000, under the grain: one range.
  std::atomic<int> calls{0};
  runtime::parallel_ranges(
      1000, [&](int64_t, int64_t) { ++calls; }, 1, 300);
  EXPECT_EQ(calls, 2);
  calls = 0;
  runtime::parallel_ranges(
      400, [&](int64_t, int64_t) { ++calls; }, 1, 300);
  EXPECT_EQ(calls, 1);
  runtime::set_threads(1);
}

TEST(Runtime, TwoThreadsGiveTheSameResultAsOne) {
  // At 320 px the image's codes (307,200) and the stem's h-swish (409,600)
  // pass twice the grain and split across the threads: every int8 tensor and
  // output must be the same bits as on one thread.
  if (!cpu_has_vnni()) GTEST_SKIP() << "this CPU has no VNNI";
  testutil::TempDir d;
  int8_ssd_onnx(d, 320, d.file("int8.onnx"));
  torch::manual_seed(4);
  const auto x = torch::randn({1, 3, 320, 320});
  // Every int8 tensor too (a wrong code need not reach an output).
  std::vector<std::string> codes;
  for (const auto& p : onnx_export::expose_activation_qdq(d.file("int8.onnx"), d.file("copy.onnx")))
    codes.push_back(p.tensor);
  ASSERT_GT(codes.size(), 20u);
  const auto one = run_onednn(d.file("int8.onnx"), {x}, 1, 0, 0, codes);
  // Another image first: the pooled buffers then hold its values, so an
  // element no thread writes shows as a difference.
  const auto two = run_onednn(d.file("int8.onnx"), {torch::randn({1, 3, 320, 320}), x}, 2, 0, 0, codes);
  ASSERT_EQ(one.outputs[0].size(), two.outputs[1].size());
  for (size_t i = 0; i < one.outputs[0].size(); ++i)
    EXPECT_TRUE(torch::equal(one.outputs[0][i], two.outputs[1][i])) << one.names[i];
  // And both are the file's meaning: ONNX Runtime's outputs up to boundary flips.
  EXPECT_LE(worst_relative(d.file("int8.onnx"), {x}), 0.05);
}

TEST(Runtime, RunIntoTheCallersTensorsKeepsTheirStorageAndLeavesTheInputAsItWas) {
  // run(x, outs) must give what run(x) gives, write into the vectors it was
  // handed without reallocating them on the next run, and read the image in
  // place without writing into it (float and int8 files: their first kernels
  // differ, a float conv and a QuantizeLinear).
  testutil::TempDir d;
  int8_ssd_onnx(d, 96, d.file("int8.onnx"));
  {
    const Config cfg = config_from_string("", testutil::tiny_ssd_overrides(d, 96));
    auto model = build_detector(cfg);
    testutil::randomize_bn(*model);
    ExportOptions o;
    o.height = o.width = 96;
    export_onnx(*model, d.file("float.onnx"), o);
  }
  auto image = [](int seed) {
    torch::manual_seed(seed);
    const auto t = torch::randn({1, 3, 96, 96});
    runtime::Tensor r;
    r.dims = t.sizes().vec();
    r.data.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    return r;
  };
  for (const std::string file : {"float.onnx", "int8.onnx"}) {
    SCOPED_TRACE(file);
    runtime::Session s(d.file(file), 1);
    const auto x = image(5), y = image(6);
    const auto x_before = x.data;
    std::vector<runtime::Tensor> outs;
    s.run(x, outs);
    EXPECT_EQ(x.data, x_before) << "the runtime wrote into its input";
    const auto fresh_x = s.run(x);
    ASSERT_EQ(outs.size(), fresh_x.size());
    ASSERT_GE(outs.size(), 2u);
    std::vector<const float*> storage;
    for (size_t i = 0; i < outs.size(); ++i) {
      EXPECT_EQ(outs[i].dims, fresh_x[i].dims);
      EXPECT_EQ(outs[i].data, fresh_x[i].data) << "output " << i;
      storage.push_back(outs[i].data.data());
    }
    // Another image into the same tensors: its own values (the box and class
    // maps change; the priors do not), in the same storage.
    s.run(y, outs);
    const auto fresh_y = s.run(y);
    int changed = 0;
    for (size_t i = 0; i < outs.size(); ++i) {
      EXPECT_EQ(outs[i].data, fresh_y[i].data) << "output " << i;
      EXPECT_EQ(outs[i].data.data(), storage[i]) << "output " << i << " was reallocated";
      changed += fresh_y[i].data != fresh_x[i].data;
    }
    EXPECT_GE(changed, 2);
  }
}

TEST(Runtime, StepsWhoseOutputsNothingReadsAreSkippedWithoutChangingAResult) {
  // The DequantizeLinear in front of an int8 conv makes a tensor no step
  // reads (the conv reads the codes): such steps are skipped unless a caller
  // asks for tensors. Counted here from the file, independently of the plan:
  // an activation's DequantizeLinear whose every reader is a Conv with an
  // int8 weight.
  if (!cpu_has_vnni()) GTEST_SKIP() << "this CPU has no VNNI";
  testutil::TempDir d;
  int8_ssd_onnx(d, 96, d.file("int8.onnx"));
  const auto m = runtime::load_model(d.file("int8.onnx"));
  std::map<std::string, const runtime::Node*> producer;
  std::map<std::string, std::vector<const runtime::Node*>> readers;
  for (const auto& n : m.nodes) {
    for (const auto& o : n.outputs) producer[o] = &n;
    for (const auto& i : n.inputs) readers[i].push_back(&n);
  }
  auto int8_weight = [&](const std::string& w) {
    auto it = producer.find(w);
    return it != producer.end() && it->second->op == "DequantizeLinear" && m.constants.count(it->second->inputs[0]) &&
           m.constants.at(it->second->inputs[0]).type == runtime::DType::s8;
  };
  int64_t expected = 0;
  for (const auto& n : m.nodes) {
    if (n.op != "DequantizeLinear" || m.constants.count(n.inputs[0])) continue;
    const auto& r = readers[n.outputs[0]];
    expected += !r.empty() && std::all_of(r.begin(), r.end(), [&](const runtime::Node* c) {
      return c->op == "Conv" && c->inputs[0] == n.outputs[0] && int8_weight(c->inputs[1]);
    });
  }
  ASSERT_GT(expected, 10);
  runtime::Session s(d.file("int8.onnx"), 1);
  EXPECT_EQ(s.summary().unread_steps, expected);
  // Skipped (no tensor asked for) or run (one asked for): the same outputs.
  torch::manual_seed(8);
  const auto t = torch::randn({1, 3, 96, 96});
  runtime::Tensor x;
  x.dims = t.sizes().vec();
  x.data.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  const auto skipped = s.run(x);
  const auto all = s.run(x, {m.outputs[0]});
  ASSERT_EQ(all.size(), skipped.size() + 1);
  for (size_t i = 0; i < skipped.size(); ++i) EXPECT_EQ(skipped[i].data, all[i].data) << "output " << i;
  // And both are the file's meaning.
  EXPECT_LE(worst_relative(d.file("int8.onnx"), {t}), 0.05);
}

TEST(Runtime, CascadeRcnnFloatAndInt8MatchOnnxRuntimeAndLibTorch) {
  // The sparse part (TopK, NonZero, NonMaxSuppression, RoiAlign on levels 2-5,
  // ScatterND, Gemm): the same proposals in the same order as ONNX Runtime, and
  // export --verify's checks (the stages judged on the runtime's own inputs)
  // pass in the runtime. Seeded as the export test: 57 of 120 proposals pool
  // from levels above P2.
  torch::manual_seed(6);
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 24, 96);
  const Config cfg = testutil::tiny_cascade(d);
  auto model = build_detector(cfg);
  testutil::randomize_bn(*model);
  ExportOptions o;
  o.height = o.width = 64;
  export_onnx(*model, d.file("c.onnx"), o);
  torch::manual_seed(7);
  const auto x = torch::randn({1, 3, 64, 64});
  const auto ort = run_onnxruntime(d.file("c.onnx"), {x});
  const auto dnn = run_onednn(d.file("c.onnx"), {x});
  ASSERT_EQ(ort.names, dnn.names);
  ASSERT_EQ(dnn.names[15], "proposals");
  for (size_t i = 0; i < 15; ++i)  // FPN and RPN maps
    EXPECT_LE((ort.outputs[0][i] - dnn.outputs[0][i]).abs().max().item<double>(), 1e-4) << ort.names[i];
  // The proposals as a set: RPN cells whose features the ReLU zeroed score
  // exactly alike, and the two engines' NMS may list such ties in either order
  // (the stages are checked exactly on the runtime's own proposals below).
  auto rows = [](const torch::Tensor& t) {
    std::vector<std::vector<float>> r;
    for (int64_t k = 0; k < t.size(0); ++k) {
      const auto row = t[k].contiguous();
      r.emplace_back(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
    }
    std::sort(r.begin(), r.end());
    return r;
  };
  const auto pr = rows(ort.outputs[0][15]), pd = rows(dnn.outputs[0][15]);
  ASSERT_EQ(pr.size(), pd.size());
  double worst = 0;
  for (size_t k = 0; k < pr.size(); ++k)
    for (size_t j = 0; j < 4; ++j) worst = std::max(worst, std::fabs(double(pr[k][j]) - pd[k][j]));
  EXPECT_LE(worst, 1e-3);  // input pixels
  const auto& props = dnn.outputs[0][15];
  EXPECT_EQ(props.size(0), 120);  // the cut over the levels kept post_nms_top_n
  const auto lv = roi_levels(props, dynamic_cast<CascadeRCNNImpl&>(*model).opt.roi);
  EXPECT_GE((lv == 2).sum().item<int64_t>(), 10) << lv;  // several RoiAlign levels pooled
  EXPECT_GE((lv >= 3).sum().item<int64_t>(), 10) << lv;
  const auto vf = verify_export(*model, d.file("c.onnx"), cfg, 6, 0, 0, "onednn");
  EXPECT_EQ(vf.engine, "oneDNN runtime");
  EXPECT_GE(vf.images, 6);
  testutil::expect_verified(vf, "Cascade float, oneDNN");

  // QAT int8: the quantized convs run as int8 oneDNN convs (the shared RPN
  // conv once per FPN level), the box heads' Gemms in float.
  const auto rep = quant::apply_qat(*model, quant::QuantOptions{});
  testutil::observe_random_batches(model, {2, 3, 64, 64});
  export_onnx(*model, d.file("q.onnx"), o);
  runtime::Session s(d.file("q.onnx"));
  const auto ops = onnx_export::read_op_types(d.file("q.onnx"));
  EXPECT_EQ(s.summary().int8_convs + s.summary().float_convs, std::count(ops.begin(), ops.end(), "Conv"));
  EXPECT_GE(s.summary().int8_convs, static_cast<int64_t>(rep.quantized.size()));
  if (!cpu_has_vnni()) return;  // int8 exactness needs VNNI (docs/runtime.md)
  const auto v = verify_export(*model, d.file("q.onnx"), cfg, 24, 0, 0, "onednn");
  EXPECT_GE(v.images, 24);
  testutil::expect_verified(v, "Cascade int8, oneDNN");
  for (size_t i = 15; i < v.outputs.size(); ++i) EXPECT_TRUE(v.exact[i]) << v.outputs[i];
}

TEST(Runtime, BadFilesAreErrorsNamingTheFileAndNode) {
  testutil::TempDir d;
  auto message = [](const std::string& path) {
    try {
      runtime::Session s(path);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message(d.file("missing.onnx")).find("missing.onnx"), std::string::npos);
  // A truncated file.
  testutil::make_tiny_fashion(d, 8, 96);
  const Config cfg = config_from_string("", testutil::tiny_ssd_overrides(d, 96));
  auto model = build_detector(cfg);
  ExportOptions o;
  o.height = o.width = 96;
  export_onnx(*model, d.file("ok.onnx"), o);
  {
    std::ifstream in(d.file("ok.onnx"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(d.file("cut.onnx"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  const auto cut = message(d.file("cut.onnx"));
  EXPECT_NE(cut.find("cut.onnx"), std::string::npos) << cut;
  EXPECT_NE(cut.find("truncated"), std::string::npos) << cut;
  // An op it has no kernel for: named with its node.
  onnx_export::OnnxGraph g("g", 13);
  g.add_input("image", {1, 3, 8, 8}, {"", "", "", ""});
  g.add_node1("Relu", {g.add_node1("Erf", {"image"}, "the_erf")}, "r");
  g.add_output("r", 4, true);
  g.save(d.file("erf.onnx"));
  const auto erf = message(d.file("erf.onnx"));
  EXPECT_NE(erf.find("the_erf"), std::string::npos) << erf;
  EXPECT_NE(erf.find("(Erf): the runtime has no kernel"), std::string::npos) << erf;
  EXPECT_NE(erf.find("erf.onnx"), std::string::npos) << erf;
  // A wrong input shape at run time.
  runtime::Session s(d.file("ok.onnx"));
  runtime::Tensor x;
  x.dims = {1, 3, 64, 64};
  x.data.assign(3 * 64 * 64, 0.f);
  try {
    s.run(x);
    ADD_FAILURE() << "a 64x64 input ran on a 96x96 file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("[1,3,64,64]"), std::string::npos) << e.what();
  }
}

TEST(Runtime, EvalOnnxScoresTheRuntimesOwnOutputsLikeLibTorch) {
  // `compress eval --onnx --runtime`: the whole EvalReader through the file in
  // each engine, decoded as the model decodes its own: the float file's AP in
  // either engine is LibTorch's own.
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  const Config cfg = config_from_string("", testutil::tiny_ssd_overrides(d, 96));
  // An untrained model finds a box on the two val images for some weight
  // draws only: the first seed whose LibTorch AP is above 0 (deterministic).
  Detector model;
  double ap_torch = 0;
  for (int seed = 0; seed < 20 && ap_torch <= 0; ++seed) {
    torch::manual_seed(seed);
    model = build_detector(cfg);
    testutil::randomize_bn(*model);
    model->eval();
    ap_torch = evaluate_on_reader(cfg, *model, nullptr, false).result.stats.ap();
  }
  ExportOptions o;
  o.height = o.width = 96;
  export_onnx(*model, d.file("ssd.onnx"), o);
  const auto ort = evaluate_onnx(cfg, *model, d.file("ssd.onnx"), "ort");
  const auto dnn = evaluate_onnx(cfg, *model, d.file("ssd.onnx"), "onednn");
  EXPECT_GT(ort.images, 0);
  EXPECT_EQ(ort.images, dnn.images);
  EXPECT_GT(ap_torch, 0.0);  // the spread class logits find some boxes
  EXPECT_NEAR(ort.result.stats.ap(), ap_torch, 1e-3);
  EXPECT_NEAR(dnn.result.stats.ap(), ap_torch, 1e-3);
  EXPECT_THROW(evaluate_onnx(cfg, *model, d.file("ssd.onnx"), "tensorrt"), std::runtime_error);
}
