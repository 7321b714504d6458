#include "compress/export/onednn_runner.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "compress/runtime/session.h"
#include "compress/runtime/value.h"
#include "train/util/error.h"
#include "train/util/process_memory.h"

namespace compress {

const std::vector<std::string>& runtime_names() {
  static const std::vector<std::string> n = {"ort", "onednn"};
  return n;
}

void check_runtime_name(const std::string& name, const std::string& flag) {
  const auto& n = runtime_names();
  if (std::find(n.begin(), n.end(), name) == n.end())
    fail(flag, ": unknown runtime '", name, "' (choose ort or onednn)");
}

namespace {

runtime::Tensor to_runtime(const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  runtime::Tensor r;
  r.dims = c.sizes().vec();
  r.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return r;
}

torch::Tensor to_torch(const runtime::Tensor& t) {
  return torch::from_blob(const_cast<float*>(t.data.data()), t.dims, torch::kFloat32).clone();
}

}  // namespace

OrtRun run_onednn(const std::string& model, const std::vector<torch::Tensor>& batches, int threads, int repeat,
                  int warmup, const std::vector<std::string>& expose, bool profile) {
  OrtRun r;
  try {
    // Timed: memory counted from an empty buffer pool and a reset peak.
    if (repeat > 0) {
      runtime::release_idle_buffers();
      reset_peak_rss();
      r.rss_before_mib = rss_mib();
    }
    const auto t_load = std::chrono::steady_clock::now();
    runtime::Session s(model, threads);
    r.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count();
    r.names = s.output_names();
    r.names.insert(r.names.end(), expose.begin(), expose.end());
    for (const auto& b : batches) {
      std::vector<torch::Tensor> outs;
      for (const auto& t : s.run(to_runtime(b), expose)) outs.push_back(to_torch(t));
      r.outputs.push_back(std::move(outs));
    }
    if (repeat > 0 && !batches.empty()) {
      const auto x = to_runtime(batches[0]);
      std::vector<runtime::Tensor> outs;  // kept across runs, as ONNX Runtime keeps its arena
      for (int i = 0; i < warmup + repeat; ++i) {
        if (profile && i == warmup) s.set_profiling(true);
        const auto t0 = std::chrono::steady_clock::now();
        s.run(x, outs);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (i >= warmup) r.timing_ms.push_back(ms);
      }
      r.peak_rss_mib = peak_rss_mib();
      for (const auto& k : s.profile()) r.profile.push_back({k.kind, k.ms / repeat, k.steps / repeat});
    }
  } catch (const std::runtime_error& e) {
    fail(e.what());
  }
  return r;
}

}  // namespace compress
