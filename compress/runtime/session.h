// An inference runtime on oneDNN for the ONNX files `compress export` writes,
// float and QDQ int8: each conv (with its int8 weights, per-channel scales and
// the QuantizeLinear that rounds its output) is one oneDNN convolution with
// its activations fused as post-ops; everything else runs one kernel per
// node (compress/runtime/ops.h). A node or pattern it cannot run is an error
// naming the node, never a silent fallback. No torch and no ONNX headers here.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace compress::runtime {

// A dense float32 tensor, row-major (NCHW for images).
struct Tensor {
  std::vector<int64_t> dims;
  std::vector<float> data;
};

struct PlanSummary {
  int64_t nodes = 0;                  // ONNX nodes in the file
  int64_t int8_convs = 0;             // convs run in int8
  int64_t float_convs = 0;            // convs run in f32
  int64_t fused_post_ops = 0;         // activation nodes folded into convs
  int64_t fused_quantize = 0;         // QuantizeLinear nodes written by their conv
  int64_t int8_hard_swish = 0;        // the exporter's int8 h-swish (six nodes) run as one kernel
  int64_t int8_leaky_relu = 0;        // DQ -> LeakyRelu after an int8 conv run as one table lookup
  int64_t fused_binary_quantize = 0;  // Add / Mul + QuantizeLinear run as one pass over codes
  int64_t concat_on_codes = 0;        // Concat (+ nearest Resizes) -> QuantizeLinear run on codes
  int64_t steps = 0;                  // kernels per run
  int64_t unread_steps = 0;           // of them, skipped unless tensors are exposed (nothing reads their outputs)
};

class Session {
 public:
  // Loads and plans the file; throws std::runtime_error naming the file and
  // the first node it cannot run.
  explicit Session(const std::string& onnx_path, int threads = 1);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::vector<std::string>& output_names() const;
  std::vector<int64_t> input_dims() const;  // -1 where the file leaves a dim free
  // One batch; returns the graph's outputs in order.
  std::vector<Tensor> run(const Tensor& input);
  // The same into `outputs` (resized to the outputs' count), reusing their
  // storage: a caller running the model again and again allocates nothing
  // per run (ONNX Runtime's outputs come from its arena the same way).
  // `input` is read in place and must not change during the call.
  void run(const Tensor& input, std::vector<Tensor>& outputs);
  // `expose`: also return these intermediate tensors (by ONNX name), as
  // float, after the outputs (for per-layer checks). A name a fused kernel
  // no longer produces is an error.
  std::vector<Tensor> run(const Tensor& input, const std::vector<std::string>& expose);
  const PlanSummary& summary() const;
  // Time per kernel kind ("Conv int8 dw 3x3", "Conv f32 1x1", the fused
  // kernels, or the op type), summed over the runs made since
  // set_profiling(true), with the number of steps run; slowest first.
  struct KernelTime {
    std::string kind;
    double ms = 0;
    int64_t steps = 0;
  };
  // per_step: one row per step instead, named by its index and describe() text.
  void set_profiling(bool on, bool per_step = false);
  std::vector<KernelTime> profile() const;
  // One line per step: what runs (for `--verbose` and tests).
  std::vector<std::string> describe() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace compress::runtime
