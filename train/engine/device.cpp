#include "train/engine/device.h"

#include <torch/torch.h>

#ifdef COMPRESS_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "train/config/config.h"
#include "train/util/error.h"

namespace compress {

c10::Device training_device(const Config& cfg, int local_rank) {
  if (!cfg.get<bool>("use_gpu")) return torch::kCPU;
  if (!torch::cuda::is_available())
    fail("use_gpu is true but this LibTorch has no CUDA device; set use_gpu: false (or build against a CUDA "
         "PyTorch: tools/build_cuda.sh)");
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
  auto to = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  for (auto& [key, st] : opt.state()) {
    auto* s = st.get();
    if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(s)) {
      sgd->momentum_buffer(to(sgd->momentum_buffer()));
    } else if (auto* a = dynamic_cast<torch::optim::AdamParamState*>(s)) {
      a->exp_avg(to(a->exp_avg()));
      a->exp_avg_sq(to(a->exp_avg_sq()));
      a->max_exp_avg_sq(to(a->max_exp_avg_sq()));
    } else if (auto* w = dynamic_cast<torch::optim::AdamWParamState*>(s)) {
      w->exp_avg(to(w->exp_avg()));
      w->exp_avg_sq(to(w->exp_avg_sq()));
      w->max_exp_avg_sq(to(w->max_exp_avg_sq()));
    } else if (auto* r = dynamic_cast<torch::optim::RMSpropParamState*>(s)) {
      r->square_avg(to(r->square_avg()));
      r->momentum_buffer(to(r->momentum_buffer()));
      r->grad_avg(to(r->grad_avg()));
    } else if (auto* g = dynamic_cast<torch::optim::AdagradParamState*>(s)) {
      g->sum(to(g->sum()));
    } else {
      fail("cannot move the state of this optimizer type to ", device.str());
    }
  }
}

}  // namespace compress
