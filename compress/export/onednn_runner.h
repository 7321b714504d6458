// Drives the oneDNN runtime (compress/runtime/) on torch batches, with the
// same result record as ONNX Runtime's driver, so verification and latency
// read either engine alike.
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

#include "compress/export/ort_runner.h"

namespace compress {

// The engines `--runtime` names: "ort" (ONNX Runtime) and "onednn".
const std::vector<std::string>& runtime_names();
// Throws naming the flag when `name` is not one of them.
void check_runtime_name(const std::string& name, const std::string& flag);

// Runs `model` in the oneDNN runtime on each batch; `expose`: intermediate
// tensors returned after the outputs (names follow). repeat > 0: also times
// that many runs of the first batch after `warmup` (wall time, ms).
// profile: the timed runs also record the runtime's time per kernel kind
// (OrtRun::profile, ms per run; the clock reads add a little to each run).
OrtRun run_onednn(const std::string& model, const std::vector<torch::Tensor>& batches, int threads = 1, int repeat = 0,
                  int warmup = 0, const std::vector<std::string>& expose = {}, bool profile = false);

}  // namespace compress
