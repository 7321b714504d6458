// Inference latency of exported models, side by side: ONNX Runtime on the
// .onnx file and LibTorch on the checkpoint it came from, batch 1, median of
// N runs after warm-up, per thread count. Prints a table like the reference's.
#pragma once
#include <string>
#include <vector>

#include "compress/export/ort_runner.h"
#include "train/models/detector.h"

namespace compress {

struct LatencyRow {
  std::string model, engine;  // engine: "onnxruntime" or "libtorch"
  int threads = 1;
  int64_t input = 0;
  double median_ms = 0;
  int runs = 0;
  std::vector<double> samples_ms;  // every timed run (ms), in order
  std::vector<OpTime> profile;     // with profile: time per op type (ORT) or kernel kind (oneDNN)
  // ORT and oneDNN: the session's creation, and the engine process's resident
  // memory (MiB) before it and at its peak over creation and runs.
  double load_ms = 0, rss_before_mib = 0, peak_rss_mib = 0;
  double added_mib() const { return peak_rss_mib - rss_before_mib; }
};

// ONNX Runtime on `path` with a random (1, 3, H, W) input (H, W from the file);
// profile: ONNX Runtime's profiler runs too (its overhead is in those runs'
// median, so compare profiles with profiles).
LatencyRow time_onnxruntime(const std::string& path, int threads, int runs, int warmup, bool profile = false);
// The same in the oneDNN runtime (engine "onednn"); profile: its own time per
// kernel kind.
LatencyRow time_onednn(const std::string& path, int threads, int runs, int warmup, bool profile = false);
// The file's (N, 3, H, W) input dims (-1 where free); fails naming `what` and the file.
std::vector<int64_t> image_input_dims(const std::string& path, const std::string& what);
// LibTorch on `model` (eval, no grad) at h x w: forward(), and for Cascade
// R-CNN also detect(), as its ONNX graph holds the proposals and stages.
LatencyRow time_libtorch(DetectorImpl& model, const std::string& name, int64_t h, int64_t w, int threads, int runs,
                         int warmup);

// Rows timed in several rounds (each round every model once, in the same
// order), merged per (model, engine, threads): the median of all rounds' runs
// pooled, and the median round's load time and memory. A machine whose speed
// drifts over minutes then slows every model alike instead of whichever ran
// during the slow spell. Rows keep the first round's order and profile.
std::vector<LatencyRow> merge_rounds(const std::vector<std::vector<LatencyRow>>& rounds);

// Markdown: model, engine, threads, input, median ms, each row's latency as a
// fraction of the first model's on the same engine and threads, load time and
// the peak memory the engine added for the model.
std::string latency_table(const std::vector<LatencyRow>& rows);

// Markdown: ms per run of each op type, one column per profiled row, with
// each op type's share of its row's total kernel time.
std::string profile_table(const std::vector<LatencyRow>& rows);

}  // namespace compress
