// Where training runs: the CPU, or with `use_gpu: true` the CUDA device of this
// process (LOCAL_RANK under torchrun, so each process of a node owns one GPU).
#pragma once
#include <c10/core/Device.h>

namespace torch::optim {
class Optimizer;
}

namespace compress {

class Config;

// Fails with a clear message when use_gpu is set but this LibTorch has no CUDA
// or the machine has fewer devices than local_rank + 1. Makes the device current.
c10::Device training_device(const Config& cfg, int local_rank);

// Moves every per-parameter optimizer state tensor (momentum, Adam moments) to
// `device`: a checkpoint's state loads on the CPU.
void move_optimizer_state(torch::optim::Optimizer& opt, const c10::Device& device);

}  // namespace compress
