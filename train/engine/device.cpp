#include "train/engine/device.h"

#include <torch/torch.h>

#ifdef COMPRESS_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "train/config/config.h"
#include "train/engine/optim_state.h"
#include "train/util/error.h"

namespace compress {

c10::Device training_device(const Config& cfg, int local_rank) {
  if (!cfg.get<bool>("use_gpu")) return torch::kCPU;
  if (!torch::cuda::is_available())
    fail(
        "use_gpu is true but this LibTorch has no CUDA device; set use_gpu: false (or build against a CUDA "
        "PyTorch: tools/gpu/build_cuda.sh)");
  const auto n = static_cast<int>(torch::cuda::device_count());
  if (local_rank >= n)
    fail("use_gpu: local rank ", local_rank, " needs GPU ", local_rank, " but this machine has ", n,
         " (one process per GPU: --nproc_per_node <= ", n, ")");
#ifdef COMPRESS_CUDA
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(local_rank));
#endif
  return c10::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
}

void move_optimizer_state(torch::optim::Optimizer& opt, const c10::Device& device) {
  map_optimizer_state(opt, [&](const torch::Tensor&, const torch::Tensor& s) { return s.to(device); });
}

}  // namespace compress
