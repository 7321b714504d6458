// The loss-bound search behind `prune --pruned_flops`: on a step function with
// known steps it finds the least bound that reaches the target, and an
// unreachable or meaningless target is an error that says why.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "compress/prune/flops_target.h"
#include "train/util/error.h"

using namespace compress;
using namespace compress::prune;

namespace {

// Pruned FLOPs move in steps as loss grows (kept channel counts are integers):
// here 0 below loss 0.1, then 0.1 more at every 0.1 of loss, up to 0.6.
double steps(double loss) { return std::clamp(std::floor(loss * 10) / 10, 0.0, 0.6); }

}  // namespace

TEST(FlopsTarget, FindsTheLeastLossThatReachesTheTarget) {
  int calls = 0;
  auto f = [&](double l) { return ++calls, steps(l); };
  // 0.35 is first reached at the step at loss 0.4, which removes 0.4.
  const FlopsTarget t = loss_for_pruned_flops(f, 0.35, -1.0, 2.0, "s.json");
  EXPECT_NEAR(t.max_loss, 0.4, 1e-5);
  EXPECT_GE(t.max_loss, 0.4);
  EXPECT_DOUBLE_EQ(t.removed, 0.4);
  EXPECT_GE(steps(t.max_loss), 0.35);
  EXPECT_LT(steps(t.max_loss - 2e-5), 0.35);  // any smaller bound falls short
  EXPECT_EQ(t.trials, calls);
  // log2(3 / 1e-5) = 18.2 halvings, plus the check at hi.
  EXPECT_EQ(t.trials, 1 + 19);
  // A target on a step's edge is reached at that step.
  EXPECT_NEAR(loss_for_pruned_flops(steps, 0.2, -1.0, 2.0, "s.json").max_loss, 0.2, 1e-5);
  // Reachable only at the top: the bound where the last step starts.
  EXPECT_NEAR(loss_for_pruned_flops(steps, 0.6, -1.0, 2.0, "s.json").max_loss, 0.6, 1e-5);
}

TEST(FlopsTarget, UnreachableOrMeaninglessTargetsAreErrors) {
  try {
    loss_for_pruned_flops(steps, 0.7, -1.0, 2.0, "out/s.json");
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'out/s.json'"), std::string::npos) << m;
    EXPECT_NE(m.find("remove 60.0% of the FLOPs, less than --pruned_flops 0.7"), std::string::npos) << m;
  }
  for (double bad : {0.0, 1.0, -0.2, 1.5})
    EXPECT_THROW(loss_for_pruned_flops(steps, bad, -1.0, 2.0, "s.json"), Error) << bad;
  EXPECT_THROW(loss_for_pruned_flops(steps, 0.3, 1.0, 1.0, "s.json"), Error);
}
