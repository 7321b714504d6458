// Device selection and optimizer-state moves (train/engine/device.*). Run here
// on the CPU build; tools/gpu/gpu_proof.sh exercises the CUDA side on a GPU machine.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

#include "train/config/config.h"
#include "train/engine/device.h"
#include "train/engine/distributed.h"
#include "train/util/error.h"

using namespace compress;

TEST(Device, CpuUnlessUseGpuAndAClearErrorWithoutCuda) {
  EXPECT_TRUE(training_device(config_from_string("use_gpu: false\n", {}), 0).is_cpu());
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA build: tools/gpu/gpu_proof.sh covers it";
  try {
    training_device(config_from_string("use_gpu: true\n", {}), 0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("use_gpu"), std::string::npos) << e.what();
  }
}

TEST(Device, OptimizerStateFollowsTheParameters) {
  // A resumed checkpoint's momentum and Adam moments load on the CPU; moving
  // them keeps their values (on the CPU build: to the CPU, the same values).
  auto w = torch::randn({3, 2}, torch::requires_grad());
  torch::optim::SGD sgd({w}, torch::optim::SGDOptions(0.1).momentum(0.9));
  torch::optim::Adam adam({w}, torch::optim::AdamOptions(0.1));
  for (auto* opt : std::initializer_list<torch::optim::Optimizer*>{&sgd, &adam}) {
    opt->zero_grad();
    (w * w).sum().backward();
    opt->step();
  }
  const auto m = static_cast<torch::optim::SGDParamState&>(*sgd.state().begin()->second).momentum_buffer().clone();
  move_optimizer_state(sgd, torch::kCPU);
  move_optimizer_state(adam, torch::kCPU);
  EXPECT_TRUE(
      torch::equal(static_cast<torch::optim::SGDParamState&>(*sgd.state().begin()->second).momentum_buffer(), m));
  EXPECT_TRUE(static_cast<torch::optim::AdamParamState&>(*adam.state().begin()->second).exp_avg().defined());
}

TEST(Device, NcclNeedsACudaBuild) {
  // Asking for NCCL on this CPU build names the alternative instead of hanging.
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA build";
  setenv("WORLD_SIZE", "1", 1);
  try {
    dist_init("nccl", 5.0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gloo"), std::string::npos) << e.what();
  }
  unsetenv("WORLD_SIZE");
}
