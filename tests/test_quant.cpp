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
#include "tests/train_fixture.h"
#include "train/config/config.h"
#include "train/engine/checkpoint.h"
#include "train/models/detector.h"
#include "train/models/layers.h"
#include "train/models/mobilenet_v3.h"
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
  QuantOptions o;
  ConvQuantImpl q(o, 2);
  q.set_plan({{/*input_on_grid=*/false, /*round_output=*/true}});
  q.train();
  // Training observes, then rounds on the updated step (what ships), after ReLU
  // on the unsigned range: 255 steps.
  for (double m : {2.0, 4.0}) q.output(torch::tensor({m, m / 4}), Act::ReLU);
  EXPECT_NEAR(q.out_scale.item<double>(), 5.8 / 1.9 / 255, 1e-7);  // state 1.9, accum 5.8
  const double s = q.out_scale.item<double>();
  q.eval();
  const auto y = q.output(torch::tensor({0.3f, 1.0f, 100.0f, -1.0f}), Act::ReLU);
  EXPECT_NEAR(y[0].item<double>(), std::nearbyint(0.3 / s) * s, 1e-6);
  EXPECT_NEAR(y[1].item<double>(), std::nearbyint(1.0 / s) * s, 1e-6);
  EXPECT_NEAR(y[2].item<double>(), 255 * s, 1e-5);  // saturates at 255 steps
  EXPECT_EQ(y[3].item<double>(), 0.0);
  // In training too the output is on the grid, and the gradient passes straight through.
  q.train();
  const auto xt = torch::tensor({0.3f, 0.7f}).requires_grad_(true);
  const auto yt = q.output(xt, Act::ReLU);
  const double st = q.out_scale.item<double>();
  for (int i = 0; i < 2; ++i) {
    const double steps = yt[i].item<double>() / st;
    EXPECT_NEAR(steps, std::nearbyint(steps), 1e-4) << i;
  }
  yt.sum().backward();
  EXPECT_TRUE(torch::equal(xt.grad(), torch::ones({2})));
  // A conv whose plan reads its input on the producer's grid uses it as is; one
  // whose plan does not rounds it with its own step.
  ConvQuantImpl consumer(o, 2);
  consumer.set_plan({{true, false}});
  consumer.act_scale.fill_(0.5);
  consumer.eval();
  EXPECT_TRUE(torch::equal(consumer.input(y), y));
  ConvQuantImpl other(o, 2);
  other.act_scale.fill_(0.5);
  other.eval();
  // y[0] = 25 steps = 0.2993; on the 0.5 grid: round(0.599) * 0.5 = 0.5.
  EXPECT_NEAR(other.input(y)[0].item<double>(), 0.5, 1e-6);
  // Signed outputs: the int8 grid, [-128, 127] steps of max / 127.
  ConvQuantImpl qs(o, 1);
  qs.set_plan({{false, true}});
  qs.train();
  qs.output(torch::tensor({-2.54f, 1.0f}), Act::None);
  EXPECT_NEAR(qs.out_scale.item<double>(), 2.54 / 127, 1e-7);
  qs.eval();
  EXPECT_NEAR(qs.output(torch::tensor({-3.0f}), Act::None).item<double>(), -128 * 0.02, 1e-5);  // negative saturation
  EXPECT_NEAR(qs.output(torch::tensor({3.0f}), Act::None).item<double>(), 127 * 0.02, 1e-5);
  // A plan that keeps the output float: not observed in training, observed in
  // calibration (for re-plans), never rounded.
  ConvQuantImpl f(o, 1);
  f.train();
  f.output(torch::tensor({2.0f}), Act::None);
  EXPECT_EQ(f.out_scale.item<float>(), 0.f);
  f.eval();
  f.calibrating = true;
  f.output(torch::tensor({2.0f}), Act::None);
  EXPECT_NEAR(f.out_scale.item<double>(), 2.0 / 127, 1e-7);
  f.calibrating = false;
  EXPECT_EQ(f.output_step(), 0.f);
  const auto x = torch::tensor({0.3f, -7.0f});
  EXPECT_TRUE(torch::equal(f.output(x, Act::None), x));
}

TEST(Observer, ActivationGridTiesAndSaturation) {
  // Half to even (as ONNX QuantizeLinear), by hand on the step 0.25:
  // 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -2.5 -> -2 steps.
  const auto s = torch::tensor({0.25f});
  const auto x = torch::tensor({0.125f, 0.375f, 0.625f, -0.125f, -0.625f});
  const auto y = fake_quant_act(x, s, 8, false);
  const float want[] = {0.f, 0.5f, 0.5f, 0.f, -0.5f};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(y[i].item<float>(), want[i]) << i;
  // Signed: -128 .. 127 steps (uint8 with zero point 128); unsigned 0 .. 255.
  const auto big = torch::tensor({-1000.f, 1000.f});
  EXPECT_EQ(fake_quant_act(big, s, 8, false)[0].item<float>(), -32.f);
  EXPECT_EQ(fake_quant_act(big, s, 8, false)[1].item<float>(), 31.75f);
  EXPECT_EQ(fake_quant_act(big, s, 8, true)[0].item<float>(), 0.f);
  EXPECT_EQ(fake_quant_act(big, s, 8, true)[1].item<float>(), 63.75f);
  EXPECT_EQ(act_range(4, false), std::make_pair(int64_t{-8}, int64_t{7}));
  // Weights stay on the reference's symmetric grid.
  EXPECT_EQ(fake_quant(big, s, -1, 8)[0].item<float>(), -31.75f);
}

TEST(Observer, Int8HardSwishByHand) {
  // h-swish in its int8 form is y * code / 255 with code = relu6(y + 3) on the
  // uint8 grid of step 6/255, as QLinearAdd writes it: round((y + 3) * 42.5).
  const auto y = torch::tensor({-4.0f, -3.0f, 0.0f, 0.5f, 1.0f, 3.5f});
  // codes: 0 (clamped), 0, round(127.5) = 128 (half to even), round(148.75) = 149,
  // 170, 255 (clamped from 276.25)
  const double want[] = {0, 0, 0, 0.5 * 149 / 255, 1.0 * 170 / 255, 3.5};
  const auto h = int8_hard_swish(y);
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(h[i].item<double>(), want[i], 1e-6) << i;
  // 0.5: the rounded form differs from float h-swish (0.29167) by a code step.
  EXPECT_NEAR(h[3].item<double>() - 0.5 * 3.5 / 6, 0.5 * (149 - 148.75) / 255, 1e-6);
  // Through a quantizer whose plan rounds the output (these values lie on its
  // 0.05 grid), in evaluation and in training alike.
  QuantOptions o;
  ConvQuantImpl q(o, 1);
  q.set_plan({{false, true}});
  q.out_scale.fill_(0.05);
  q.eval();
  const auto he = q.output(y, Act::HardSwish);
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(he[i].item<double>(), want[i], 1e-6) << i;
  // Gradient: the code's rounding is straight-through, so d/dy = code / 255 + y * hard-sigmoid'(y).
  const auto yg = torch::tensor({0.5f, -4.0f}).requires_grad_(true);
  int8_hard_swish(yg).sum().backward();
  EXPECT_NEAR(yg.grad()[0].item<double>(), 149.0 / 255 + 0.5 / 6, 1e-6);
  EXPECT_NEAR(yg.grad()[1].item<double>(), 0.0, 1e-7);
  // A float output (the plan keeps it float) has the float h-swish.
  ConvQuantImpl f(o, 1);
  f.out_scale.fill_(0.05);
  f.eval();
  EXPECT_TRUE(torch::allclose(f.output(y, Act::HardSwish), y * torch::clamp(y + 3, 0, 6) / 6));
}

TEST(Observer, RoundAfterActivationRoundsTheActivationsOutputOnItsGrid) {
  // quant.round_after_activation: h-swish, leaky ReLU and hard-sigmoid are
  // part of the conv and the rounding comes after them, once: h-swish and
  // leaky ReLU on the signed grid [-128, 127] x s, hard-sigmoid (never
  // negative) on the unsigned one [0, 255] x s. Step 0.1 here.
  QuantOptions o;
  o.round_after_activation = true;
  ConvQuantImpl q(o, 1);
  q.set_plan({{false, true}});
  q.out_scale.fill_(0.1);
  q.eval();
  const auto y = torch::tensor({-2.0f, 0.26f, 1.0f, 20.0f});
  // h-swish: -2 * 1/6 = -0.3333 -> -3 steps; 0.26 * 3.26 / 6 = 0.14127 -> 1;
  // 1 * 4/6 = 0.6667 -> 7; 20 -> 200 steps, saturating at 127.
  const double hs[] = {-0.3, 0.1, 0.7, 12.7};
  const auto h = q.output(y, Act::HardSwish);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(h[i].item<double>(), hs[i], 1e-6) << i;
  // leaky ReLU (slope 0.1): -0.2 -> -2 steps; 0.26 -> 3 (2.6); 1 -> 10; 20 -> 127.
  const double lk[] = {-0.2, 0.3, 1.0, 12.7};
  const auto l = q.output(y, Act::LeakyReLU);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(l[i].item<double>(), lk[i], 1e-6) << i;
  // hard-sigmoid: 1/6 -> 2 steps (1.667); 0.5433 -> 5; 0.6667 -> 7; 1 -> 10.
  const double hsg[] = {0.2, 0.5, 0.7, 1.0};
  const auto g = q.output(y, Act::HardSigmoid);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(g[i].item<double>(), hsg[i], 1e-6) << i;
  // The unsigned grid holds 255 steps: at step 0.0045, hard-sigmoid's 1 is
  // 222 steps, which the signed grid would clamp to 127 x 0.0045 = 0.5715.
  q.out_scale.fill_(0.0045);
  EXPECT_NEAR(q.output(torch::tensor({20.0f}), Act::HardSigmoid).item<double>(), 222 * 0.0045, 1e-6);
  // The default contract rounds before the h-swish (its int8 form) instead.
  ConvQuantImpl d(QuantOptions{}, 1);
  d.set_plan({{false, true}});
  d.out_scale.fill_(0.1);
  d.eval();
  EXPECT_NEAR(d.output(torch::tensor({0.26f}), Act::HardSwish).item<double>(), 0.3 * 140 / 255.0, 1e-6);
}

TEST(Observer, AbsMaxAndRangeAbsMax) {
  QuantOptions a;
  a.activation_quantize_type = ActivationQuantizeType::AbsMax;
  ConvQuantImpl qa(a, 1);
  for (double m : {2.0, 4.0, 1.0}) qa.input(torch::tensor({m}));
  EXPECT_NEAR(qa.act_scale.item<double>(), 1.0 / 127, 1e-8);  // the last batch's max
  // Evaluation is dynamic too: this batch's own max (4 / 127), not the stored 1 / 127.
  qa.eval();
  const auto ya = qa.input(torch::tensor({4.0f, 1.0f}));
  EXPECT_NEAR(ya[1].item<double>(), 32 * 4.0 / 127, 1e-6);  // round(31.75) = 32 steps
  EXPECT_NEAR(ya[0].item<double>(), 4.0, 1e-6);
  EXPECT_NEAR(qa.act_scale.item<double>(), 1.0 / 127, 1e-8);  // and stores nothing
  QuantOptions r;
  r.activation_quantize_type = ActivationQuantizeType::RangeAbsMax;
  r.window_size = 2;
  ConvQuantImpl qr(r, 1);
  std::vector<double> expect = {2.0, 4.0, 4.0, 3.0};  // max over the last 2 batches
  std::vector<double> seen = {2.0, 4.0, 1.0, 3.0};
  for (size_t i = 0; i < seen.size(); ++i) {
    qr.input(torch::tensor({seen[i]}));
    EXPECT_NEAR(qr.act_scale.item<double>(), expect[i] / 127, 1e-7) << i;
  }
}

TEST(Observer, SitesKeepTheirOwnObservers) {
  // One quantizer run at two call sites (a shared head on two FPN levels): each
  // site has its own scale, and its own range_abs_max window counting its own steps.
  QuantOptions r;
  r.activation_quantize_type = ActivationQuantizeType::RangeAbsMax;
  r.window_size = 2;
  ConvQuantImpl q(r, 1);
  q.set_plan({{}, {}});
  ASSERT_EQ(q.sites(), 2);
  for (int step = 0; step < 3; ++step) {
    q.site = 0;
    q.input(torch::tensor({1.0 + step}));  // 1, 2, 3
    q.site = 1;
    q.input(torch::tensor({10.0}));
  }
  EXPECT_NEAR(q.act_scale[0].item<double>(), 3.0 / 127, 1e-7);
  EXPECT_NEAR(q.act_scale[1].item<double>(), 10.0 / 127, 1e-7);
  EXPECT_EQ(q.act_iter[0].item<int64_t>(), 3);
  q.site = 2;
  EXPECT_THROW(q.input(torch::tensor({1.0})), c10::Error);
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

TEST(Fold, ZeroGammaGivesNoNaN) {
  // ResNet zero-initialises residual BN gammas: the fold must not divide 0 by 0.
  torch::manual_seed(3);
  ConvBNLayer l(ConvBNOptions(4, 4, 3, 1, 1, Act::None));
  randomize_bn(*l);
  {
    torch::NoGradGuard g;
    l->bn->weight[1].fill_(0.0);
  }
  apply_qat(*l, QuantOptions{});
  l->train();
  const auto x = torch::randn({2, 4, 6, 6});
  const auto y = l->forward(x);
  ASSERT_TRUE(torch::isfinite(y).all().item<bool>());
  // Channel 1 is exactly its beta (gamma * normalized + beta).
  EXPECT_TRUE(torch::allclose(y.select(1, 1), torch::full({2, 6, 6}, l->bn->bias[1].item<float>())));
  y.pow(2).sum().backward();
  for (const auto& p : l->parameters()) EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
  l->eval();
  EXPECT_TRUE(torch::isfinite(l->forward(x)).all().item<bool>());
}

TEST(Fold, GradientThroughTheFoldEqualsFloat) {
  // At 16 bits the fake quantization is nearly the identity, and its gradient
  // is straight-through: the folded QAT layer's gradients must then be the
  // float conv -> BN layer's, for the conv weight, gamma and beta.
  torch::manual_seed(4);
  ConvBNLayer plain(ConvBNOptions(6, 8, 3, 1, 1, Act::ReLU));
  ConvBNLayer folded(ConvBNOptions(6, 8, 3, 1, 1, Act::ReLU));
  randomize_bn(*plain);
  {
    torch::NoGradGuard g;
    for (size_t i = 0; i < plain->parameters().size(); ++i) folded->parameters()[i].copy_(plain->parameters()[i]);
    for (size_t i = 0; i < plain->buffers().size(); ++i) folded->buffers()[i].copy_(plain->buffers()[i]);
  }
  QuantOptions o;
  o.weight_bits = o.activation_bits = 16;
  apply_qat(*folded, o);
  plain->train(), folded->train();
  const auto x = torch::randn({4, 6, 8, 8});
  const auto target = torch::randn({4, 8, 8, 8});
  for (auto* l : {&plain, &folded}) ((*l)->forward(x) - target).pow(2).mean().backward();
  for (const char* name : {"conv.weight", "bn.weight", "bn.bias"}) {
    const auto gp = plain->named_parameters()[name].grad(), gf = folded->named_parameters()[name].grad();
    const double rel = (gp - gf).abs().max().item<double>() / gp.abs().max().item<double>();
    EXPECT_LT(rel, 2e-3) << name;
  }
}

namespace {

SitePlan plan_of(torch::nn::Module& model, const std::string& quantizer, int64_t site = 0) {
  for (const auto& m : model.named_modules())
    if (m.key() == quantizer) return dynamic_cast<ConvQuantImpl&>(*m.value()).plan(site);
  ADD_FAILURE() << "no quantizer " << quantizer;
  return {};
}

}  // namespace

TEST(Plan, RoundsOnlyWhereEveryConsumerIsQuantized) {
  // Each conv's choice, from what reads its output in the SSDLite graph.
  for (const bool skip : {false, true}) {
    auto model = build_detector(tiny_ssd_config());
    QuantOptions o;
    if (skip) o.not_quant_pattern = {"res_conv1", "se_block"};
    apply_qat(*model, o);
    int64_t units = 0;
    for (const auto& m : model->named_modules()) {
      auto* u = dynamic_cast<ResidualUnitImpl*>(m.value().get());
      if (!u) continue;
      ++units;
      const std::string p = m.key();
      if (u->expand) {
        // expand -> res_conv1: rounded when res_conv1 is quantized; a skipped
        // res_conv1 gets a float input (the reference's rule).
        EXPECT_EQ(plan_of(*model, p + ".expand.conv_quant").round_output, !skip) << p;
        // res_conv1 reads expand's grid as is only where the rounding comes after the activation.
        if (!skip)
          EXPECT_EQ(plan_of(*model, p + ".res_conv1.conv_quant").input_on_grid,
                    u->expand->act == Act::ReLU || u->expand->act == Act::None)
              << p;
      }
      if (!skip) {
        // res_conv1 -> (SE pool and scale ->) linear: every path ends in quantized convs.
        EXPECT_TRUE(plan_of(*model, p + ".res_conv1.conv_quant").round_output) << p;
        EXPECT_EQ(plan_of(*model, p + ".linear.conv_quant").input_on_grid,
                  !u->se_block && u->res_conv1->act != Act::HardSwish)
            << p;
      } else {
        // Behind a float SE scale, linear quantizes its own input.
        EXPECT_FALSE(plan_of(*model, p + ".linear.conv_quant").input_on_grid) << p;
      }
    }
    EXPECT_GT(units, 5);
    // Head outputs are model outputs: float. Their depthwise convs feed quantized pointwise convs.
    int64_t heads = 0;
    for (const auto& m : model->named_modules()) {
      const auto& k = m.key();
      if (!(k.rfind("loc.", 0) == 0 || k.rfind("conf.", 0) == 0)) continue;
      if (k.find(".pw.conv_quant") != std::string::npos) {
        EXPECT_FALSE(plan_of(*model, k).round_output) << k;
        ++heads;
      }
      if (k.find(".dw.conv_quant") != std::string::npos) EXPECT_TRUE(plan_of(*model, k).round_output) << k;
    }
    EXPECT_GT(heads, 4);
  }
}

TEST(Plan, SharedRpnHeadHasOneObserverPerLevel) {
  testutil::TempDir d;
  auto o = testutil::tiny_cascade_overrides(d, 64);
  auto model =
      build_detector(load_config(testutil::source_path("configs/fashion/cascade_rcnn_mobilenet_v3_large_fpn.yml"), o));
  apply_qat(*model, QuantOptions{});
  const auto levels = static_cast<int64_t>(model->forward(torch::zeros({1, 3, 64, 64})).size() / 3);
  ASSERT_GE(levels, 4);
  for (const char* q : {"rpn_head.conv.conv_quant", "rpn_head.rpn_cls_logits.conv_quant"}) {
    for (const auto& m : model->named_modules())
      if (m.key() == q) EXPECT_EQ(dynamic_cast<ConvQuantImpl&>(*m.value()).sites(), levels) << q;
  }
  for (int64_t k = 0; k < levels; ++k) {
    // The hidden conv feeds the two quantized predictors; the predictions are model outputs.
    EXPECT_TRUE(plan_of(*model, "rpn_head.conv.conv_quant", k).round_output) << k;
    EXPECT_FALSE(plan_of(*model, "rpn_head.rpn_cls_logits.conv_quant", k).round_output) << k;
    EXPECT_FALSE(plan_of(*model, "rpn_head.rpn_bbox_pred.conv_quant", k).round_output) << k;
  }
  // Training observes each level into its own slot.
  model->train();
  {
    torch::NoGradGuard g;
    model->forward(torch::randn({1, 3, 64, 64}));
  }
  for (const auto& m : model->named_modules())
    if (m.key() == "rpn_head.conv.conv_quant") {
      const auto s = dynamic_cast<ConvQuantImpl&>(*m.value()).act_scale;
      EXPECT_GT(s.min().item<float>(), 0.f);
      EXPECT_GT(std::get<0>(torch::unique_consecutive(s)).numel(), 1);  // the levels differ
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
  try {
    parse_activation_quantize_type("moving_avg");
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
    for (const auto& kv : a->named_buffers())  // the observers, not the plans (which differ)
      if (bb.contains(kv.key()) && kv.key().find(".plan_") == std::string::npos) bb[kv.key()].copy_(kv.value());
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
  a.cumulative = {
      {{"backbone.conv1.conv"}, 0.31},
      {{"backbone.conv1.conv", "rpn_head.rpn_bbox_pred.conv"}, 0.33},
      {{"backbone.conv1.conv", "rpn_head.rpn_bbox_pred.conv", "backbone.blocks.1.expand.conv", "fpn.fpn_inner.0.conv"},
       0.32}};
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
