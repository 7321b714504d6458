#include "train/engine/runtime.h"

#include <torch/torch.h>

#include <thread>

#include "train/config/config.h"
#include "train/util/error.h"

namespace compress {

void apply_runtime_settings(const Config& cfg) {
  const int threads = cfg.get<int>("threads");
  if (threads < 0) fail("threads must be >= 0, got ", threads);
  torch::set_num_threads(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  torch::manual_seed(static_cast<uint64_t>(cfg.get<int64_t>("seed")));
  if (cfg.get<bool>("use_gpu") && !torch::cuda::is_available())
    fail("use_gpu is true but this LibTorch has no CUDA device; set use_gpu: false");
}

}  // namespace compress
