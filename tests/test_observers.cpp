// The activation observers (compress/quant/observers.h) against hand-computed
// ranges, and the quantize-type names parsed into enums once.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "compress/quant/observers.h"
#include "compress/quant/quant_options.h"
#include "train/util/error.h"

using namespace compress;
using namespace compress::quant;

namespace {
at::Tensor one(double v) { return torch::tensor({static_cast<float>(v)}); }
}  // namespace

TEST(Observers, MovingAverageIsTheBiasCorrectedAverageByHand) {
  // rate 0.9, maxima 2, 4, 1: state 1, 1.9, 2.71; accum 2, 5.8, 6.22.
  auto state = torch::zeros({1}), accum = torch::zeros({1});
  const double expect[] = {2.0, 5.8 / 1.9, 6.22 / 2.71};
  const double seen[] = {2.0, 4.0, 1.0};
  for (int i = 0; i < 3; ++i)
    EXPECT_NEAR(moving_average_range(state, accum, one(seen[i]), 0.9).item<double>(), expect[i], 1e-6) << i;
  EXPECT_NEAR(state.item<double>(), 2.71, 1e-6);  // kept in place, for the checkpoint
  EXPECT_NEAR(accum.item<double>(), 6.22, 1e-5);
}

TEST(Observers, WindowKeepsTheMaxOfTheLastSteps) {
  auto window = torch::zeros({3}), iter = torch::zeros({1}, torch::kLong);
  const double seen[] = {5.0, 1.0, 2.0, 3.0, 0.5, 0.25};
  const double expect[] = {5.0, 5.0, 5.0, 3.0, 3.0, 3.0};  // 5 leaves at the 4th step
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(window_range(window, iter, one(seen[i])).item<double>(), expect[i], 0) << i;
  EXPECT_EQ(iter.item<int64_t>(), 6);
}

TEST(Observers, DispatchByTypeAndBatchMax) {
  EXPECT_NEAR(batch_abs_max(torch::tensor({-3.0f, 2.0f, 1.0f}), false).item<double>(), 3.0, 0);
  ObserverState s;
  s.state = torch::zeros({1}), s.accum = torch::zeros({1});
  s.window = torch::zeros({2}), s.iter = torch::zeros({1}, torch::kLong);
  EXPECT_NEAR(observe_range(ActivationQuantizeType::AbsMax, s, one(7), 0.9).item<double>(), 7.0, 0);
  EXPECT_NEAR(s.state.item<double>(), 0.0, 0);  // abs_max keeps no state
  observe_range(ActivationQuantizeType::MovingAverageAbsMax, s, one(2), 0.5);
  EXPECT_NEAR(observe_range(ActivationQuantizeType::MovingAverageAbsMax, s, one(4), 0.5).item<double>(),
              (0.5 * 2 + 4) / 1.5, 1e-6);
  observe_range(ActivationQuantizeType::RangeAbsMax, s, one(9), 0.9);
  EXPECT_NEAR(observe_range(ActivationQuantizeType::RangeAbsMax, s, one(1), 0.9).item<double>(), 9.0, 0);
}

TEST(Observers, StepIsRangeOverLevelsFlooredAtFloatEpsilon) {
  EXPECT_FLOAT_EQ(step_of_range(one(12.7), 127).item<float>(), 0.1f);
  EXPECT_FLOAT_EQ(step_of_range(one(6.0), 255).item<float>(), 6.0f / 255);
  // An observed range of 0 (a ReLU that never fired) gets torch.ao's floor, not
  // step 0, which means "never observed" to the exporter.
  EXPECT_EQ(step_of_range(one(0.0), 127).item<float>(), 1.1920928955078125e-07f);
  EXPECT_EQ(step_of_range(one(1e-6), 127).item<float>(), 1.1920928955078125e-07f);  // 7.9e-9 floored
}

TEST(QuantizeTypes, NamesRoundTripAndUnknownOnesListTheValid) {
  for (const auto& n : weight_quantize_types()) EXPECT_EQ(name_of(parse_weight_quantize_type(n)), n);
  for (const auto& n : activation_quantize_types()) EXPECT_EQ(name_of(parse_activation_quantize_type(n)), n);
  EXPECT_EQ(parse_weight_quantize_type("abs_max"), WeightQuantizeType::AbsMax);
  EXPECT_EQ(parse_activation_quantize_type("range_abs_max"), ActivationQuantizeType::RangeAbsMax);
  try {
    parse_weight_quantize_type("per_channel", "checkpoint 'x.pt' quant.weight_quantize_type");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("checkpoint 'x.pt' quant.weight_quantize_type: unknown 'per_channel'"), std::string::npos) << m;
    EXPECT_NE(m.find("channel_wise_abs_max, abs_max"), std::string::npos) << m;
  }
}
