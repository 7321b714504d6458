#include "train/engine/runtime.h"

#include <torch/torch.h>

#include <cstdlib>
#include <thread>

#include "train/config/config.h"
#include "train/util/error.h"

namespace compress {

void apply_runtime_settings(const Config& cfg) {
  const int threads = cfg.get<int>("threads");
  if (threads < 0) fail("threads must be >= 0, got ", threads);
  // 0: all cores, unless OMP_NUM_THREADS says otherwise (the test runner sets
  // it to 1 so that parallel test processes do not oversubscribe the cores).
  int n = threads;
  if (n == 0) {
    const char* omp = std::getenv("OMP_NUM_THREADS");
    n = omp && std::atoi(omp) > 0 ? std::atoi(omp)
                                  : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  torch::set_num_threads(n);
  torch::manual_seed(static_cast<uint64_t>(cfg.get<int64_t>("seed")));
  if (cfg.get<bool>("use_gpu") && !torch::cuda::is_available())
    fail("use_gpu is true but this LibTorch has no CUDA device; set use_gpu: false");
}

}  // namespace compress
