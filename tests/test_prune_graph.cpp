// Channel groups found from the autograd graph, and the equivalence that makes
// physical pruning right: the pruned model computes what the unpruned one does
// when the removed channels are zeroed *after* their activation (zeroing only
// the conv weights would let the BN bias leak through). Tested on a plain conv
// chain, a residual block, a depthwise + SE block and a concat (YOLOv3 route).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>

#include "compress/prune/flops.h"
#include "compress/prune/pruner.h"
#include "compress/prune/trace.h"
#include "train/config/config.h"
#include "train/models/detector.h"
#include "train/models/layers.h"
#include "train/util/error.h"

using namespace compress;
using namespace compress::prune;

namespace {

constexpr double kMaxAbsErr = 1e-5;

using Masks = std::map<std::string, torch::Tensor>;  // layer -> (C) 0/1 mask on its activated output

torch::Tensor masked(const torch::Tensor& y, const Masks& m, const std::string& layer) {
  const auto it = m.find(layer);
  return it == m.end() ? y : y * it->second.view({1, -1, 1, 1});
}

ConvBNLayer cbl(int64_t in, int64_t out, int64_t k, int64_t stride = 1, int64_t groups = 1, Act act = Act::ReLU,
                bool bn = true) {
  return ConvBNLayer(ConvBNOptions(in, out, k, stride, groups, act, bn));
}

// Every test net: forward(x, masks) with masks applied after each layer's activation.
struct TestNet : torch::nn::Module {
  virtual torch::Tensor forward(const torch::Tensor& x, const Masks& m) = 0;
};

// 3 -> 8 -> 6 -> 4 (the last a plain conv with bias, as a head).
struct ChainNet : TestNet {
  ConvBNLayer a{cbl(3, 8, 3)}, b{cbl(8, 6, 3, 1, 1, Act::HardSwish)}, c{cbl(6, 4, 1, 1, 1, Act::None, false)};
  ChainNet() {
    register_module("a", a);
    register_module("b", b);
    register_module("c", c);
  }
  torch::Tensor forward(const torch::Tensor& x, const Masks& m) override {
    auto y = masked(a(x), m, "a");
    y = masked(b(y), m, "b");
    return c(y);
  }
};

// stem -> (stem + branch(stem)) -> head: the stem's and the branch's last conv's
// channels are one group.
struct ResidualNet : TestNet {
  ConvBNLayer stem{cbl(3, 8, 3)}, b1{cbl(8, 12, 1)}, b2{cbl(12, 8, 3, 1, 1, Act::None)},
      head{cbl(8, 4, 1, 1, 1, Act::None, false)};
  ResidualNet() {
    register_module("stem", stem);
    register_module("b1", b1);
    register_module("b2", b2);
    register_module("head", head);
  }
  torch::Tensor forward(const torch::Tensor& x, const Masks& m) override {
    auto s = masked(stem(x), m, "stem");
    auto r = masked(b1(s), m, "b1");
    r = masked(b2(r), m, "b2");
    return head(s + r);
  }
};

// MobileNetV3 unit: expand -> depthwise -> SE -> project, then a head.
struct DepthwiseNet : TestNet {
  ConvBNLayer expand{cbl(3, 8, 1, 1, 1, Act::HardSwish)}, dw{cbl(8, 8, 3, 2, 8, Act::HardSwish)},
      project{cbl(8, 6, 1, 1, 1, Act::None)}, head{cbl(6, 4, 1, 1, 1, Act::None, false)};
  SEBlock se{8, 4};
  DepthwiseNet() {
    register_module("expand", expand);
    register_module("dw", dw);
    register_module("se", se);
    register_module("project", project);
    register_module("head", head);
  }
  torch::Tensor forward(const torch::Tensor& x, const Masks& m) override {
    auto y = masked(expand(x), m, "expand");
    y = masked(dw(y), m, "dw");
    y = se(y);
    y = masked(project(y), m, "project");
    return head(y);
  }
};

// The YOLOv3 route: a -> b (stride 2) -> t, upsampled and concatenated with a.
struct ConcatNet : TestNet {
  ConvBNLayer a{cbl(3, 8, 3)}, b{cbl(8, 6, 3, 2)}, t{cbl(6, 4, 1, 1, 1, Act::LeakyReLU)},
      c{cbl(12, 5, 3, 1, 1, Act::LeakyReLU)}, head{cbl(5, 4, 1, 1, 1, Act::None, false)};
  ConcatNet() {
    register_module("a", a);
    register_module("b", b);
    register_module("t", t);
    register_module("c", c);
    register_module("head", head);
  }
  torch::Tensor forward(const torch::Tensor& x, const Masks& m) override {
    auto ya = masked(a(x), m, "a");
    auto yt = masked(t(masked(b(ya), m, "b")), m, "t");
    yt = torch::upsample_nearest2d(yt, {ya.size(2), ya.size(3)});
    auto y = masked(c(torch::cat({yt, ya}, 1)), m, "c");
    return head(y);
  }
};

// Random BN statistics and affine terms, so a leaking BN bias shows.
void randomize(torch::nn::Module& net, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard ng;
  for (auto& p : net.parameters()) p.normal_(0, 0.5);
  for (const auto& m : net.named_modules("", false))
    if (auto* bn = m.value()->as<torch::nn::BatchNorm2d>()) {
      bn->running_mean.normal_(0, 0.3);
      bn->running_var.uniform_(0.5, 1.5);
      bn->bias.normal_(0.5, 0.5);  // mostly positive: survives ReLU
    }
  net.eval();
}

DependencyGraph trace(TestNet& net, int64_t size = 16) {
  return trace_graph(net, [&](const at::Tensor& x) { return std::vector<at::Tensor>{net.forward(x, {})}; },
                     {1, 3, size, size});
}

std::set<std::string> members_of(const ChannelGroup& g, MemberKind k) {
  std::set<std::string> s;
  for (const auto& m : g.members)
    if (m.kind == k) s.insert(m.module + "@" + std::to_string(m.root_begin) + ":" + std::to_string(m.begin));
  return s;
}

// Masks for the layers whose activated outputs lose channels under the plan:
// every conv in remove_out, keyed by its layer (the path without ".conv").
Masks masks_from(const PrunePlan& plan, TestNet& net) {
  Masks m;
  std::map<std::string, int64_t> out_ch;
  for (const auto& p : net.named_parameters())
    if (p.key().size() > 12 && p.key().substr(p.key().size() - 12) == ".conv.weight")
      out_ch[p.key().substr(0, p.key().size() - 12)] = p.value().size(0);
  for (const auto& [module, removed] : plan.remove_out) {
    if (module.size() < 5 || module.substr(module.size() - 5) != ".conv") continue;
    const std::string layer = module.substr(0, module.size() - 5);
    auto mask = torch::ones({out_ch.at(layer)});
    for (int64_t i : removed) mask[i] = 0;
    m[layer] = mask;
  }
  return m;
}

// Prunes `specs` and checks pruned(x) == unpruned-with-masks(x).
void expect_equivalent(TestNet& net, const std::vector<PruneSpec>& specs, const std::string& criterion,
                       const std::map<std::string, std::vector<int64_t>>& expected_shapes) {
  randomize(net, 7);
  const auto x = torch::randn({2, 3, 16, 16});
  const DependencyGraph g = trace(net);
  const PrunePlan plan = plan_pruning(net, g, specs, make_criterion(criterion));
  torch::Tensor want, plain;
  {
    torch::NoGradGuard ng;
    want = net.forward(x, masks_from(plan, net));
    plain = net.forward(x, {});
  }
  EXPECT_GT((want - plain).abs().max().item<double>(), 1e-3) << "the masks must change the output";
  apply_plan(net, plan);
  torch::NoGradGuard ng;
  const auto got = net.forward(x, {});
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_LT((got - want).abs().max().item<double>(), kMaxAbsErr);
  const auto params = net.named_parameters();
  for (const auto& [name, shape] : expected_shapes) EXPECT_EQ(params[name].sizes().vec(), shape) << name;
}

}  // namespace

TEST(PruneGraph, ChainGroupIsConvBnAndConsumer) {
  ChainNet net;
  const auto g = trace(net).group_of("a.conv");
  EXPECT_TRUE(g.blocked.empty()) << g.blocked;
  EXPECT_EQ(g.channels, 8);
  EXPECT_EQ(members_of(g, MemberKind::ConvOut), (std::set<std::string>{"a.conv@0:0"}));
  EXPECT_EQ(members_of(g, MemberKind::BatchNorm), (std::set<std::string>{"a.bn@0:0"}));
  EXPECT_EQ(members_of(g, MemberKind::ConvIn), (std::set<std::string>{"b.conv@0:0"}));
  // The last conv's channels are the model output: never prunable.
  EXPECT_NE(trace(net).group_of("c.conv").blocked.find("model output"), std::string::npos);
}

TEST(PruneGraph, ResidualAddCouplesBothProducers) {
  ResidualNet net;
  const auto g = trace(net).group_of("stem.conv");
  EXPECT_TRUE(g.blocked.empty()) << g.blocked;
  EXPECT_EQ(members_of(g, MemberKind::ConvOut), (std::set<std::string>{"stem.conv@0:0", "b2.conv@0:0"}));
  EXPECT_EQ(members_of(g, MemberKind::ConvIn), (std::set<std::string>{"b1.conv@0:0", "head.conv@0:0"}));
  EXPECT_EQ(members_of(g, MemberKind::BatchNorm), (std::set<std::string>{"stem.bn@0:0", "b2.bn@0:0"}));
}

TEST(PruneGraph, DepthwiseAndSeFollowTheExpandConv) {
  DepthwiseNet net;
  const auto g = trace(net).group_of("expand.conv");
  EXPECT_TRUE(g.blocked.empty()) << g.blocked;
  EXPECT_EQ(members_of(g, MemberKind::Depthwise), (std::set<std::string>{"dw.conv@0:0"}));
  EXPECT_EQ(members_of(g, MemberKind::ConvOut), (std::set<std::string>{"expand.conv@0:0", "se.conv2@0:0"}));
  EXPECT_EQ(members_of(g, MemberKind::ConvIn), (std::set<std::string>{"se.conv1@0:0", "project.conv@0:0"}));
}

TEST(PruneGraph, ConcatPutsTheSecondInputAtItsOffset) {
  ConcatNet net;
  const auto graph = trace(net);
  const auto ga = graph.group_of("a.conv");
  EXPECT_EQ(members_of(ga, MemberKind::ConvIn), (std::set<std::string>{"b.conv@0:0", "c.conv@0:4"}));
  const auto gt = graph.group_of("t.conv");
  EXPECT_EQ(members_of(gt, MemberKind::ConvIn), (std::set<std::string>{"c.conv@0:0"}));
}

TEST(PruneEquivalence, PlainChain) {
  ChainNet net;
  expect_equivalent(net, {{"a.conv", 0.5}, {"b.conv", 0.34}}, "l1_norm",
                    {{"a.conv.weight", {4, 3, 3, 3}},
                     {"a.bn.weight", {4}},
                     {"b.conv.weight", {4, 4, 3, 3}},
                     {"c.conv.weight", {4, 4, 1, 1}}});
}

TEST(PruneEquivalence, ResidualBlock) {
  ResidualNet net;
  expect_equivalent(net, {{"stem.conv", 0.5}, {"b1.conv", 0.25}}, "geometry_median",
                    {{"stem.conv.weight", {4, 3, 3, 3}},
                     {"b2.conv.weight", {4, 9, 3, 3}},
                     {"b2.bn.weight", {4}},
                     {"b1.conv.weight", {9, 4, 1, 1}},
                     {"head.conv.weight", {4, 4, 1, 1}}});
}

TEST(PruneEquivalence, DepthwiseBlockWithSe) {
  DepthwiseNet net;
  expect_equivalent(net, {{"expand.conv", 0.5}}, "l1_norm",
                    {{"expand.conv.weight", {4, 3, 1, 1}},
                     {"dw.conv.weight", {4, 1, 3, 3}},
                     {"dw.bn.weight", {4}},
                     {"se.conv1.weight", {4, 4, 1, 1}},
                     {"se.conv2.weight", {4, 4, 1, 1}},
                     {"se.conv2.bias", {4}},
                     {"project.conv.weight", {6, 4, 1, 1}}});
  EXPECT_EQ(net.dw->conv->options.groups(), 4);
}

TEST(PruneEquivalence, ConcatRoute) {
  ConcatNet net;
  expect_equivalent(net, {{"a.conv", 0.5}, {"t.conv", 0.5}}, "geometry_median",
                    {{"a.conv.weight", {4, 3, 3, 3}},
                     {"b.conv.weight", {6, 4, 3, 3}},
                     {"t.conv.weight", {2, 6, 1, 1}},
                     {"c.conv.weight", {5, 6, 3, 3}}});
}

TEST(PruneEquivalence, BnBiasLeaksThroughWeightOnlyMasking) {
  // The peers' bug: zeroing the removed filters but not the activated output
  // leaves beta - mean * gamma / sigma in those channels.
  ChainNet net;
  randomize(net, 3);
  const auto x = torch::randn({1, 3, 16, 16});
  const DependencyGraph g = trace(net);
  const PrunePlan plan = plan_pruning(net, g, {{"a.conv", 0.5}}, make_criterion("l1_norm"));
  torch::Tensor weight_masked;
  {
    torch::NoGradGuard ng;
    for (int64_t i : plan.remove_out.at("a.conv")) net.a->conv->weight[i].zero_();
    weight_masked = net.forward(x, {});
  }
  apply_plan(net, plan);
  torch::NoGradGuard ng;
  EXPECT_GT((net.forward(x, {}) - weight_masked).abs().max().item<double>(), 1e-3);
}

TEST(PruneFlops, HandCountedChain) {
  ChainNet net;
  const auto costs = conv_costs(trace(net, 16));
  ASSERT_EQ(costs.size(), 3u);
  // a: 3x3, 3->8, padding 1 on 16x16: 16*16*8*(9*3) ; b: 16*16*6*(9*8) ; c: 16*16*4*6 (its bias is
  // a parameter but no FLOP: the reference's conv op has no bias input)
  EXPECT_EQ(costs[0].module, "a.conv");
  EXPECT_EQ(costs[0].flops, 16 * 16 * 8 * 27);
  EXPECT_EQ(costs[0].params, 8 * 3 * 9);
  EXPECT_EQ(costs[1].flops, 16 * 16 * 6 * 72);
  EXPECT_EQ(costs[2].flops, 16 * 16 * 4 * 6);
  EXPECT_EQ(costs[2].params, 4 * 6 + 4);
}

TEST(PruneFlops, DepthwiseAndStride) {
  DepthwiseNet net;
  std::map<std::string, ConvCost> by;
  for (const auto& c : conv_costs(trace(net, 16))) by[c.module] = c;
  EXPECT_EQ(by.at("dw.conv").flops, 8 * 8 * 8 * 9);  // stride 2: 8x8 out, one 3x3 tap set per channel
  EXPECT_EQ(by.at("se.conv1").flops, 1 * 4 * 8);
  EXPECT_EQ(by.at("expand.conv").flops, 16 * 16 * 8 * 3);
}
