// QAT building blocks: fake-quant against the naive formula, straight-through
// gradients, observer update rules step by step, per-channel scales, skip
// patterns on the real models, conv + BN folding, QAT checkpoints, bad input.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "compress/model_io.h"
#include "compress/quant/analyze.h"
#include "compress/quant/conv_quant.h"
#include "compress/quant/fake_quant.h"
#include "compress/quant/qat.h"
#include "compress/quant/quant_json.h"
#include "compress/quant/quant_options.h"
#include "tests/test_util.h"
#include "train/config/config.h"
#include "train/engine/checkpoint.h"
#include "train/models/detector.h"
#include "train/models/layers.h"
#include "train/util/error.h"

#include <nlohmann/json.hpp>

using namespace compress;
using namespace compress::quant;

namespace {

torch::Tensor naive_fq(const torch::Tensor& x, double s, int64_t q = 127) {
  auto out = torch::empty_like(x);
  auto xf = x.contiguous().view(-1);
  auto of = out.view(-1);
  for (int64_t i = 0; i < xf.numel(); ++i) {
    const double v = std::clamp(std::round(xf[i].item<double>() / s), double(-q), double(q)) * s;
    of[i] = v;
  }
  return out;
}

// Passes input and weight through unchanged, to test the folding alone.
struct IdentityHook : ConvQuantHook {
  torch::Tensor input(const torch::Tensor& x) override { return x; }
  torch::Tensor weight(const torch::Tensor& w) override { return w; }
};

void randomize_bn(ConvBNLayerImpl& l) {
  torch::NoGradGuard g;
  l.bn->weight.uniform_(0.5, 1.5);
  l.bn->bias.uniform_(-0.5, 0.5);
  l.bn->running_mean.uniform_(-0.3, 0.3);
  l.bn->running_var.uniform_(0.5, 2.0);
}

Config tiny_ssd_config() {
  return config_from_string("", {"num_classes=3", "MobileNetV3.model_name=small", "MobileNetV3.scale=0.5",
                                 "MobileNetV3.extra_block_filters=[[16, 32], [16, 32], [16, 32], [16, 32]]",
                                 "SSDLiteMultiBoxHead.base_size=64", "SSDLiteMultiBoxHead.steps=[]"});
}

}  // namespace

TEST(FakeQuant, PerTensorMatchesNaiveFormula) {
  torch::manual_seed(0);
  const auto x = torch::randn({200}) * 3;  // some values beyond 127 * s: clamped
  const double s = 0.02;
  const auto y = fake_quant(x, torch::tensor({s}, torch::kFloat32), -1, 8);
  EXPECT_TRUE(torch::allclose(y, naive_fq(x, s), 1e-6, 1e-6));
  EXPECT_NEAR(y.max().item<double>(), 127 * s, 1e-6);
  // 4 bits: Q = 7.
  const auto y4 = fake_quant(x, torch::tensor({0.5f}), -1, 4);
  EXPECT_TRUE(torch::allclose(y4, naive_fq(x, 0.5, 7), 1e-6, 1e-6));
}

TEST(FakeQuant, PerChannelScalesAndForward) {
  torch::manual_seed(1);
  const auto w = torch::randn({4, 3, 3, 3});
  const auto s = channel_scales(w, 8);
  for (int64_t c = 0; c < 4; ++c) {
    EXPECT_NEAR(s[c].item<double>(), w[c].abs().max().item<double>() / 127, 1e-7);
    const auto yc = fake_quant(w, s, 0, 8)[c];
    EXPECT_TRUE(torch::allclose(yc, naive_fq(w[c], s[c].item<double>()), 1e-6, 1e-6)) << c;
  }
  EXPECT_NEAR(tensor_scale(w, 8).item<double>(), w.abs().max().item<double>() / 127, 1e-7);
}

TEST(FakeQuant, StraightThroughGradient) {
  const auto x = torch::tensor({-10.0f, -0.013f, 0.0f, 0.5f, 10.0f}).requires_grad_();
  const auto g = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f, 5.0f});
  (fake_quant(x, torch::tensor({0.01f}), -1, 8) * g).sum().backward();
  // Unchanged, also for the clamped +-10 (the reference's fake_quantize_dequantize grad).
  EXPECT_TRUE(torch::equal(x.grad(), g));
}

TEST(Observer, MovingAverageAbsMaxStepByStep) {
  QuantOptions o;  // moving_average_abs_max, rate 0.9
  ConvQuantImpl q(o, 2);
  q.train();
  for (double m : {2.0, 4.0, 1.0}) q.input(torch::tensor({-m, m / 2}));
  // state: 1, 1.9, 2.71; accum: 2, 0.9 * 2 + 4 = 5.8, 0.9 * 5.8 + 1 = 6.22.
  EXPECT_NEAR(q.act_state.item<double>(), 2.71, 1e-6);
  EXPECT_NEAR(q.act_accum.item<double>(), 6.22, 1e-5);
  EXPECT_NEAR(q.act_scale.item<double>(), 6.22 / 2.71 / 127, 1e-7);
  // Evaluation uses the stored scale and leaves it alone.
  q.eval();
  const auto y = q.input(torch::tensor({100.0f, 0.01f}));
  EXPECT_NEAR(q.act_scale.item<double>(), 6.22 / 2.71 / 127, 1e-7);
  EXPECT_NEAR(y[0].item<double>(), 6.22 / 2.71, 1e-5);  // clamped at 127 steps
}

TEST(Observer, OutputScaleAndInt8Outputs) {
  QuantOptions o;  // quantize_outputs on by default
  ConvQuantImpl q(o, 2);
  q.train();
  // Training observes and passes the output through unchanged.
  for (double m : {2.0, 4.0}) {
    const auto y = torch::tensor({m, m / 4});
    EXPECT_TRUE(torch::equal(q.output(y, /*non_negative=*/true), y));
  }
  // state 1.9, accum 5.8; after ReLU the unsigned range: 255 steps.
  EXPECT_NEAR(q.out_scale.item<double>(), 5.8 / 1.9 / 255, 1e-7);
  const double s = 5.8 / 1.9 / 255;
  q.eval();
  const auto y = q.output(torch::tensor({0.3f, 1.0f, 100.0f}), true);
  EXPECT_NEAR(y[0].item<double>(), std::nearbyint(0.3 / s) * s, 1e-6);
  EXPECT_NEAR(y[1].item<double>(), std::nearbyint(1.0 / s) * s, 1e-6);
  EXPECT_NEAR(y[2].item<double>(), 255 * s, 1e-5);  // saturates at 255 steps
  // A conv fed directly by that output does not round it again with its own
  // input step; the same values in another tensor are rounded.
  ConvQuantImpl consumer(o, 2);
  consumer.act_scale.fill_(0.5);
  consumer.eval();
  EXPECT_TRUE(torch::equal(consumer.input(y), y));
  // y[0] = 25 steps = 0.2993; on the consumer's 0.5 grid: round(0.599) * 0.5 = 0.5.
  EXPECT_NEAR(consumer.input(y.clone())[0].item<double>(), 0.5, 1e-6);
  // Signed outputs use the symmetric 127-step grid.
  ConvQuantImpl qs(o, 1);
  qs.train();
  qs.output(torch::tensor({-2.54f, 1.0f}), false);
  EXPECT_NEAR(qs.out_scale.item<double>(), 2.54 / 127, 1e-7);
  qs.eval();
  EXPECT_NEAR(qs.output(torch::tensor({-3.0f}), false).item<double>(), -2.54, 1e-5);
  // Without quantize_outputs there are no output buffers and outputs stay float.
  o.quantize_outputs = false;
  ConvQuantImpl off(o, 1);
  EXPECT_FALSE(off.out_scale.defined());
  EXPECT_EQ(off.output_step(), 0.f);
}

TEST(Observer, Int8HardSwishByHand) {
  // With int8 outputs, h-swish is y * code / 255 with code = relu6(y + 3) on the
  // uint8 grid of step 6/255, as QLinearAdd writes it: round((y + 3) * 42.5).
  QuantOptions o;
  ConvQuantImpl q(o, 1);
  q.out_scale.fill_(0.05);
  q.eval();
  const auto y = torch::tensor({-4.0f, -3.0f, 0.0f, 0.5f, 1.0f, 3.5f});
  const auto h = q.hard_swish(y);
  // codes: 0 (clamped), 0, round(127.5) = 128 (half to even), round(148.75) = 149,
  // 170, 255 (clamped from 276.25)
  const double want[] = {0, 0, 0, 0.5 * 149 / 255, 1.0 * 170 / 255, 3.5};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(h[i].item<double>(), want[i], 1e-6) << i;
  // 0.5: the rounded form differs from float h-swish (0.29167) by a code step.
  EXPECT_NEAR(h[3].item<double>() - 0.5 * 3.5 / 6, 0.5 * (149 - 148.75) / 255, 1e-6);
  // Training, calibration and float outputs keep the float h-swish.
  q.train();
  EXPECT_TRUE(torch::allclose(q.hard_swish(y), y * torch::clamp(y + 3, 0, 6) / 6));
  ConvQuantImpl f(o, 1);  // no output step observed yet
  f.eval();
  EXPECT_TRUE(torch::allclose(f.hard_swish(y), y * torch::clamp(y + 3, 0, 6) / 6));
}

TEST(Observer, AbsMaxAndRangeAbsMax) {
  QuantOptions a;
  a.activation_quantize_type = "abs_max";
  ConvQuantImpl qa(a, 1);
  for (double m : {2.0, 4.0, 1.0}) qa.input(torch::tensor({m}));
  EXPECT_NEAR(qa.act_scale.item<double>(), 1.0 / 127, 1e-8);  // the last batch's max
  QuantOptions r;
  r.activation_quantize_type = "range_abs_max";
  r.window_size = 2;
  ConvQuantImpl qr(r, 1);
  std::vector<double> expect = {2.0, 4.0, 4.0, 3.0};  // max over the last 2 batches
  std::vector<double> seen = {2.0, 4.0, 1.0, 3.0};
  for (size_t i = 0; i < seen.size(); ++i) {
    qr.input(torch::tensor({seen[i]}));
    EXPECT_NEAR(qr.act_scale.item<double>(), expect[i] / 127, 1e-7) << i;
  }
}

TEST(Fold, ConvBnFoldedEqualsConvThenBn) {
  torch::manual_seed(2);
  for (int64_t groups : {1, 8}) {
    ConvBNLayer plain(ConvBNOptions(8, 8, 3, 1, groups, Act::None));
    ConvBNLayer folded(ConvBNOptions(8, 8, 3, 1, groups, Act::None));
    randomize_bn(*plain);
    torch::NoGradGuard g;
    for (size_t i = 0; i < plain->parameters().size(); ++i) folded->parameters()[i].copy_(plain->parameters()[i]);
    for (size_t i = 0; i < plain->buffers().size(); ++i) folded->buffers()[i].copy_(plain->buffers()[i]);
    folded->conv_quant = std::make_shared<IdentityHook>();
    const auto x = torch::randn({2, 8, 10, 10});
    // Eval: running statistics, a single conv with the folded weight and bias.
    plain->eval(), folded->eval();
    EXPECT_TRUE(torch::allclose(folded->forward(x), plain->forward(x), 1e-5, 1e-5)) << groups;
    const auto [w, b] = plain->folded_weight_bias();
    EXPECT_TRUE(torch::allclose(torch::conv2d(x, w, b, 1, 1, 1, groups), plain->forward(x), 1e-5, 1e-5));
    // Training: batch statistics, and the running statistics move the same way.
    plain->train(), folded->train();
    EXPECT_TRUE(torch::allclose(folded->forward(x), plain->forward(x), 1e-5, 1e-5)) << groups;
    EXPECT_TRUE(torch::allclose(folded->bn->running_mean, plain->bn->running_mean, 1e-6, 1e-6));
    EXPECT_TRUE(torch::allclose(folded->bn->running_var, plain->bn->running_var, 1e-6, 1e-6));
    // Frozen BN in training = the eval computation, and no statistics update.
    folded->bn_frozen = true;
    const auto mean_before = folded->bn->running_mean.clone();
    plain->eval();
    EXPECT_TRUE(torch::allclose(folded->forward(x), plain->forward(x), 1e-5, 1e-5));
    EXPECT_TRUE(torch::equal(folded->bn->running_mean, mean_before));
  }
}

TEST(Qat, NotQuantPatternOnTheRealModels) {
  for (const char* name : {"large", "small"}) {
    auto model = build_detector(config_from_string("", {std::string("MobileNetV3.model_name=") + name}));
    QuantOptions o;
    o.not_quant_pattern = {"res_conv1", "se_block"};
    const auto r = apply_qat(*model, o);
    // res_conv1 = exactly the backbone's depthwise convs; se_block = exactly the SE convs.
    std::set<std::string> expect_skip;
    int64_t units = 0, se_units = 0;
    for (const auto& m : model->named_modules()) {
      if (auto* c = dynamic_cast<ConvBNLayerImpl*>(m.value().get())) {
        const bool depthwise = c->conv->options.groups() > 1;
        if (depthwise && m.key().rfind("backbone.", 0) == 0) {
          expect_skip.insert(m.key() + ".conv");
          ++units;
        }
      } else if (dynamic_cast<SEBlockImpl*>(m.value().get())) {
        expect_skip.insert(m.key() + ".conv1");
        expect_skip.insert(m.key() + ".conv2");
        ++se_units;
      }
    }
    EXPECT_EQ(units, std::string(name) == "large" ? 15 : 11);
    EXPECT_EQ(se_units, std::string(name) == "large" ? 8 : 9);
    EXPECT_EQ(std::set<std::string>(r.skipped.begin(), r.skipped.end()), expect_skip) << name;
    // Everything else is quantized: stem, expand, linear, conv_last, extras and heads.
    const std::set<std::string> q(r.quantized.begin(), r.quantized.end());
    for (const char* p : {"backbone.conv1.conv", "backbone.blocks.3.expand.conv", "backbone.blocks.3.linear.conv",
                          "backbone.conv_last.conv", "extra_blocks.0.dw.conv", "loc.0.dw.conv", "conf.5.pw.conv"})
      EXPECT_TRUE(q.count(p)) << name << " " << p;
    EXPECT_EQ(r.quantized.size() + r.skipped.size(), quantizable_convs(*model).size());
    EXPECT_TRUE(is_quantized(*model));
  }
}

TEST(Qat, YoloRecipesKeepTheOutputConvsFloat) {
  // The reference's YOLOv3 quantization skips 'yolo_output': the three 1x1
  // output convs stay float, every other conv is quantized (COCO, fashion and
  // the ResNet34 teacher, which inherit it).
  for (const char* recipe : {"configs/yolov3_mobilenet_v3.yml", "configs/fashion/yolov3_mobilenet_v3_prune_distill.yml",
                             "configs/fashion/yolov3_r34.yml"}) {
    const Config cfg = load_config(testutil::source_path(recipe));
    const QuantOptions o = quant_options_from_config(cfg);
    EXPECT_EQ(o.not_quant_pattern, std::vector<std::string>{"yolo_output"}) << recipe;
    auto model = build_detector(cfg);
    const auto r = apply_qat(*model, o);
    EXPECT_EQ(r.skipped, (std::vector<std::string>{"yolo_output.0.conv", "yolo_output.1.conv", "yolo_output.2.conv"}))
        << recipe;
    EXPECT_EQ(r.quantized.size() + 3, quantizable_convs(*model).size()) << recipe;
  }
}

TEST(Qat, PatternMatchingNothingIsAnError) {
  auto model = build_detector(tiny_ssd_config());
  QuantOptions o;
  o.not_quant_pattern = {"res_conv1", "se_blok"};
  try {
    apply_qat(*model, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'se_blok' matches no layer"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(is_quantized(*model));
}

TEST(Qat, BadQuantizeTypesListTheValidOnes) {
  try {
    config_from_string("", {"quant.weight_quantize_type=channel_abs_max"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("quant.weight_quantize_type"), std::string::npos) << m;
    EXPECT_NE(m.find("channel_wise_abs_max"), std::string::npos) << m;
    EXPECT_NE(m.find("abs_max"), std::string::npos) << m;
  }
  QuantOptions o;
  o.activation_quantize_type = "moving_avg";
  try {
    validate(o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("range_abs_max"), std::string::npos) << e.what();
  }
}

TEST(Qat, CheckpointKeepsScalesAndRefusesFloatQatMixups) {
  testutil::TempDir d;
  const Config cfg = tiny_ssd_config();
  auto model = build_detector(cfg);
  const std::string float_ckpt = d.file("float.pt"), qat_ckpt = d.file("qat.pt");
  save_checkpoint(float_ckpt, *model, nullptr, TrainState{});
  QuantOptions o;
  o.not_quant_pattern = {"se_block"};
  apply_qat(*model, o);
  model->train();
  model->forward(torch::randn({2, 3, 64, 64}));  // the observers see one batch
  TrainState st;
  st.arch = model->arch();
  st.transforms = nlohmann::json{{"quant", options_to_json(o)}}.dump();
  save_checkpoint(qat_ckpt, *model, nullptr, st);

  auto reloaded = load_detector(cfg, qat_ckpt);
  ASSERT_TRUE(is_quantized(*reloaded));
  const auto a = model->named_buffers(), b = reloaded->named_buffers();
  int scales = 0;
  for (const auto& kv : a)
    if (kv.key().find("_quant.") != std::string::npos) {
      EXPECT_TRUE(torch::equal(kv.value(), b[kv.key()])) << kv.key();
      scales += kv.key().find("act_scale") != std::string::npos && kv.value().item<float>() > 0;
    }
  EXPECT_GT(scales, 10);
  // A QAT checkpoint into a float model, and a float one into a QAT model: clear errors.
  auto plain = build_detector(cfg);
  try {
    load_weights(qat_ckpt, *plain);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is a QAT checkpoint"), std::string::npos) << e.what();
  }
  try {
    load_weights(float_ckpt, *reloaded);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is a float checkpoint"), std::string::npos) << e.what();
  }
}

// The quant analysis keeps one conv float by toggling its quantizer off: that
// must run exactly as a model whose --not_quant_pattern skipped that conv, with
// every other scale the same, and toggling back must restore the int8 model.
TEST(Qat, OneConvKeptFloatRunsAsIfItsPatternSkippedIt) {
  torch::manual_seed(3);
  const Config cfg = tiny_ssd_config();
  auto a = build_detector(cfg), b = build_detector(cfg);
  {
    torch::NoGradGuard g;
    for (const auto& m : a->modules())
      if (auto* c = dynamic_cast<ConvBNLayerImpl*>(m.get()); c && c->bn) randomize_bn(*c);
    auto pb = b->named_parameters(), bb = b->named_buffers();
    for (const auto& kv : a->named_parameters()) pb[kv.key()].copy_(kv.value());
    for (const auto& kv : a->named_buffers()) bb[kv.key()].copy_(kv.value());
  }
  const auto all = quantizable_convs(*a);
  std::string expand, se;
  for (const auto& p : all) {
    if (expand.empty() && p.find(".expand.conv") != std::string::npos) expand = p;
    if (se.empty() && p.find("se_block.conv1") != std::string::npos) se = p;
  }
  ASSERT_FALSE(expand.empty());
  ASSERT_FALSE(se.empty());

  apply_qat(*a, QuantOptions{});
  a->eval();
  set_calibrating(*a, true);
  {
    torch::NoGradGuard g;
    a->forward(torch::randn({4, 3, 64, 64}));
  }
  set_calibrating(*a, false);
  QuantOptions skip;
  skip.not_quant_pattern = {expand, se};
  const auto rep = apply_qat(*b, skip);
  ASSERT_EQ(rep.skipped, (std::vector<std::string>{expand, se}));
  {
    torch::NoGradGuard g;
    auto bb = b->named_buffers();
    for (const auto& kv : a->named_buffers())
      if (bb.contains(kv.key())) bb[kv.key()].copy_(kv.value());
  }
  b->eval();
  torch::NoGradGuard g;
  const auto x = torch::randn({2, 3, 64, 64});
  auto run = [&](DetectorImpl& m) {
    std::vector<torch::Tensor> flat;
    for (const auto& o : m.forward(x)) flat.push_back(o.reshape(-1));
    return torch::cat(flat);
  };
  const auto int8 = run(*a), skipped = run(*b);
  EXPECT_GT((int8 - skipped).abs().max().item<double>(), 1e-4) << "the two convs' quantization must show";

  set_conv_float(*a, expand, true);
  set_conv_float(*a, se, true);
  EXPECT_LE((run(*a) - skipped).abs().max().item<double>(), 1e-6);
  set_conv_float(*a, expand, false);
  set_conv_float(*a, se, false);
  EXPECT_TRUE(torch::equal(run(*a), int8));

  // A path that is no conv, and a conv the pattern left float: errors naming them.
  try {
    set_conv_float(*a, "backbone.blocks.1.expand", true);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no conv 'backbone.blocks.1.expand'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("did you mean"), std::string::npos) << e.what();
  }
  try {
    set_conv_float(*b, expand, true);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not quantized"), std::string::npos) << e.what();
  }
}

// The flags the analysis prints: the best cumulative row's convs after the
// patterns it was given, and nothing when a path would select other convs too.
TEST(QuantAnalysis, SuggestedPatternsKeepExactlyTheBestRowFloat) {
  quant::QuantAnalysis a;
  a.quant_ap = 0.30;
  a.cumulative = {{{"backbone.conv1.conv"}, 0.31},
                  {{"backbone.conv1.conv", "rpn_head.rpn_bbox_pred.conv"}, 0.33},
                  {{"backbone.conv1.conv", "rpn_head.rpn_bbox_pred.conv", "backbone.blocks.1.expand.conv", "fpn.fpn_inner.0.conv"}, 0.32}};
  const std::vector<std::string> quantized{"backbone.conv1.conv", "rpn_head.rpn_bbox_pred.conv",
                                           "backbone.blocks.1.expand.conv", "backbone.blocks.10.expand.conv",
                                           "fpn.fpn_inner.0.conv"};
  EXPECT_EQ(quant::suggest_patterns(a, {"se_block"}, quantized),
            (std::vector<std::string>{"se_block", "backbone.conv1.conv", "rpn_head.rpn_bbox_pred.conv"}));
  // Nothing beats the all-quantized model: no flags.
  a.quant_ap = 0.35;
  EXPECT_TRUE(quant::suggest_patterns(a, {}, quantized).empty());
  // The best row holds a path that is also part of another conv's path.
  a.quant_ap = 0.30;
  a.cumulative[2].ap = 0.40;
  EXPECT_EQ(quant::suggest_patterns(a, {}, quantized).size(), 4u);  // blocks.1. is not inside blocks.10.
  a.cumulative[2].convs[2] = "backbone.blocks.1";
  EXPECT_TRUE(quant::suggest_patterns(a, {}, {"backbone.blocks.1", "backbone.blocks.10.expand.conv"}).empty());
}
