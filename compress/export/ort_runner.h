// Drives ONNX Runtime (npm's onnxruntime-node, through tools/ort/run.js) on
// raw float32 batches: the independent check of our exports, and their timer.
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

namespace compress {

// ONNX Runtime's profiler, summed by op type (the optimized graph's ops, so
// fused kernels such as QLinearConv appear under their own names).
struct OpTime {
  std::string op;
  double ms = 0;      // kernel time per timed run
  int64_t nodes = 0;  // nodes of that type
};

struct OrtRun {
  std::vector<std::string> names;                   // output names, in graph order
  std::vector<std::vector<torch::Tensor>> outputs;  // per batch, per output
  std::vector<double> timing_ms;                    // per timed run (with repeat > 0)
  std::vector<OpTime> profile;                      // with profile: slowest op type first
  // With repeat > 0: the session's creation time, and the engine process's
  // resident memory before it (MiB) and at its peak over creation and runs.
  double load_ms = 0, rss_before_mib = 0, peak_rss_mib = 0;
};

// The folder holding run.js and node_modules (COMPRESS_ORT_DIR, or tools/ort
// beside the binary's build folder). Fails with how to install it.
std::string ort_dir();

// Whether this x86 CPU has VNNI (AVX512-VNNI or AVX-VNNI): int8 dot products
// that cannot saturate. Without it ONNX Runtime's default u8 x s8 kernels sum
// products in pairs into saturating int16; run.js sets ORT's
// session.x64quantprecision=1, which makes them exact there.
bool cpu_has_vnni();

// optimization: ONNX Runtime's graphOptimizationLevel ("all" as deployed;
// "disabled" runs each node with its reference kernel, no QDQ fusion).
// profile: also run ONNX Runtime's profiler over the timed runs (one batch).
OrtRun run_onnxruntime(const std::string& model, const std::vector<torch::Tensor>& batches, int threads = 1,
                       int repeat = 0, int warmup = 0, const std::string& optimization = "all", bool profile = false);

}  // namespace compress
