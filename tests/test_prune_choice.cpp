// Which channels pruning removes, pinned against a naive double-precision
// implementation of the reference's rule (tests/naive_prune.h), not against
// the pruner's own scoring: the named conv alone scores its group (depthwise
// or coupled by a residual add), `prune.group_score: sum` adds every producer,
// exact halves round to even, two layers of one group from a sensitivity file,
// and a grouped conv that is not depthwise.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "compress/prune/pruner.h"
#include "compress/prune/report.h"
#include "compress/prune/trace.h"
#include "tests/naive_prune.h"
#include "train/config/config.h"
#include "train/models/detector.h"
#include "train/models/layers.h"
#include "train/util/error.h"

using namespace compress;
using namespace compress::prune;

namespace {

Detector ssd_small() {
  torch::manual_seed(3);
  return build_detector(config_from_string("", {"num_classes=10", "use_gpu=false", "MobileNetV3.model_name=small"}));
}

DependencyGraph trace_det(DetectorImpl& m, int64_t size) {
  return trace_graph(m, [&](const at::Tensor& x) { return m.forward(x); }, {1, 3, size, size});
}

torch::Tensor weight_of(DetectorImpl& m, const std::string& conv) { return m.named_parameters()[conv + ".weight"]; }

// A residual linear conv whose group has several producers (the adds of a chain of units).
std::string residual_conv(DetectorImpl& m, const DependencyGraph& g) {
  for (const auto& item : m.named_modules("", false)) {
    const std::string& path = item.key();
    if (!item.value()->as<torch::nn::Conv2d>() || path.find("backbone.blocks.") != 0) continue;
    if (path.size() < 12 || path.compare(path.size() - 12, 12, ".linear.conv") != 0) continue;
    const auto grp = g.group_of(path);
    int producers = 0;
    for (const auto& mem : grp.members) producers += mem.kind == MemberKind::ConvOut;
    if (grp.blocked.empty() && producers >= 3) return path;
  }
  return "";
}

}  // namespace

TEST(PruneChoice, ExactHalvesRoundToEvenAsPythonRounds) {
  EXPECT_EQ(removed_count(30, 0.75), 22);  // 22.5: the reference removes 22 (llround removed 23)
  EXPECT_EQ(kept_count(30, 0.75), 8);
  EXPECT_EQ(removed_count(10, 0.25), 2);     // 2.5 -> 2
  EXPECT_EQ(removed_count(14, 0.25), 4);     // 3.5 -> 4
  EXPECT_EQ(removed_count(96, 0.6137), 59);  // 58.9152 -> 59
  for (int64_t n : {2, 6, 10, 14, 18, 30, 62, 126})
    for (double r : {0.25, 0.5, 0.75, 0.875})
      EXPECT_EQ(removed_count(n, r), testutil::python_round(static_cast<double>(n) * r)) << n << " x " << r;
}

TEST(PruneChoice, TheNamedConvDecidesItsGroupDepthwiseOrNot) {
  auto m = ssd_small();
  const auto g = trace_det(*m, 64);
  const std::string expand = "backbone.blocks.4.expand.conv", dw = "backbone.blocks.4.res_conv1.conv";
  ASSERT_EQ(weight_of(*m, dw).size(1), 1) << "block 4's res_conv1 is depthwise";
  for (const std::string criterion : {"l1_norm", "geometry_median"}) {
    std::map<std::string, std::vector<int64_t>> chosen;
    for (const auto& conv : {expand, dw}) {
      const auto want = testutil::naive_kept(testutil::naive_score(criterion, weight_of(*m, conv)), 0.5);
      // (Sum would add the SE block's conv2, which scales the same channels.)
      const auto plan = plan_pruning(*m, g, {{conv, 0.5}}, make_criterion(criterion));
      ASSERT_EQ(plan.groups.size(), 1u);
      EXPECT_EQ(plan.groups[0].kept, want) << conv << " " << criterion;
      chosen[conv] = want;
    }
    // The two convs would choose differently: the test tells which one decided.
    EXPECT_NE(chosen[expand], chosen[dw]) << criterion;
  }
}

TEST(PruneChoice, ACoupledGroupIsScoredByTheNamedConvOrBySumAsAsked) {
  auto m = ssd_small();
  const auto g = trace_det(*m, 64);
  const std::string named = residual_conv(*m, g);
  ASSERT_FALSE(named.empty()) << "no residual chain of three producers in MobileNetV3-Small";
  const auto grp = g.group_of(named);
  for (const std::string criterion : {"l1_norm", "geometry_median"}) {
    // Named: the reference's rule.
    const auto want_named = testutil::naive_kept(testutil::naive_score(criterion, weight_of(*m, named)), 0.5);
    auto plan = plan_pruning(*m, g, {{named, 0.5}}, make_criterion(criterion));
    EXPECT_EQ(plan.groups[0].kept, want_named) << named << " " << criterion;
    // Sum: every producer's score (all span the whole root space here).
    std::vector<double> sum(static_cast<size_t>(grp.channels), 0.0);
    int producers = 0;
    for (const auto& mem : grp.members) {
      if (mem.kind != MemberKind::ConvOut) continue;
      ASSERT_EQ(mem.length, grp.channels) << mem.module;
      const auto s = testutil::naive_score(criterion, weight_of(*m, mem.module));
      for (size_t c = 0; c < sum.size(); ++c) sum[c] += s[c];
      ++producers;
    }
    ASSERT_GE(producers, 3);
    const auto want_sum = testutil::naive_kept(sum, 0.5);
    plan = plan_pruning(*m, g, {{named, 0.5}}, make_criterion(criterion), 1, GroupScore::Sum);
    EXPECT_EQ(plan.groups[0].kept, want_sum) << named << " " << criterion;
    EXPECT_NE(want_named, want_sum) << criterion << ": the two rules must differ for the test to tell them apart";
  }
  EXPECT_EQ(group_score_from_name("sum"), GroupScore::Sum);
  EXPECT_THROW(group_score_from_name("mean"), Error);
}

TEST(PruneChoice, TheLaterLayerOfACollectedGroupIsSkippedWhenAsked) {
  auto m = ssd_small();
  const auto g = trace_det(*m, 64);
  const std::string expand = "backbone.blocks.4.expand.conv", dw = "backbone.blocks.4.res_conv1.conv";
  try {
    plan_pruning(*m, g, {{expand, 0.5}, {dw, 0.25}}, make_criterion("l1_norm"));
    FAIL() << "two layers of one group were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("share one channel group"), std::string::npos) << e.what();
  }
  const auto plan = plan_pruning(*m, g, {{expand, 0.5}, {dw, 0.25}}, make_criterion("l1_norm"), 1, GroupScore::Named,
                                 /*skip_coupled=*/true);
  ASSERT_EQ(plan.groups.size(), 1u);
  EXPECT_EQ(plan.groups[0].conv, expand);
  EXPECT_EQ(plan.groups[0].kept, testutil::naive_kept(testutil::naive_l1(weight_of(*m, expand)), 0.5));
}

TEST(PruneChoice, AGroupedConvThatIsNotDepthwiseIsRefused) {
  struct Net : torch::nn::Module {
    ConvBNLayer a, b, c;
    Net()
        : a(register_module("a", ConvBNLayer(ConvBNOptions(3, 8, 1, 1, 1, Act::ReLU)))),
          b(register_module("b", ConvBNLayer(ConvBNOptions(8, 8, 3, 1, 2, Act::ReLU)))),  // 2 groups of 4
          c(register_module("c", ConvBNLayer(ConvBNOptions(8, 4, 1, 1, 1, Act::None, false)))) {}
  };
  auto n = std::make_shared<Net>();
  const auto g =
      trace_graph(*n, [&](const at::Tensor& x) { return std::vector<at::Tensor>{n->c(n->b(n->a(x)))}; }, {1, 3, 8, 8});
  try {
    plan_pruning(*n, g, {{"b.conv", 0.5}}, make_criterion("l1_norm"));
    FAIL() << "a grouped conv was pruned";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'b.conv.weight' is a grouped conv (2 groups"), std::string::npos) << e.what();
  }
  EXPECT_EQ(n->b->conv->options.groups(), 2);  // untouched
}
