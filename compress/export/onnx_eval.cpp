#include "compress/export/onnx_eval.h"

#include <torch/torch.h>

#include <chrono>

#include "compress/export/architectures.h"
#include "compress/export/latency.h"
#include "compress/export/onednn_runner.h"
#include "compress/export/onnx_detections.h"
#include "compress/export/onnx_graph.h"
#include "compress/export/ort_runner.h"
#include "train/data/loader.h"
#include "train/data/reader.h"
#include "train/engine/evaluate.h"
#include "train/util/error.h"
#include "train/util/progress.h"

namespace compress {

OnnxEvalRun evaluate_onnx(const Config& cfg, DetectorImpl& model, const std::string& onnx_path,
                          const std::string& runtime) {
  check_runtime_name(runtime, "eval --runtime");
  torch::NoGradGuard no_grad;
  model.eval();
  const auto dims = image_input_dims(onnx_path, "eval --onnx");
  auto ds = load_dataset(cfg, "EvalReader");
  auto loader = make_loader(cfg, "EvalReader", ds);
  loader->start_epoch(0);
  const ArchitectureExport& arch = architecture_export(model);
  const size_t n_raw = model.forward(torch::zeros({1, 3, 64, 64})).size();
  const auto t0 = std::chrono::steady_clock::now();
  OnnxEvalRun out;
  std::vector<CocoDetection> dets;
  Progress progress("eval --onnx " + runtime, ds->size());
  // Batches go to the engine in chunks: ONNX Runtime starts a process per call.
  constexpr size_t kChunk = 32;
  for (bool more = true; more;) {
    std::vector<Batch> batches;
    std::vector<torch::Tensor> images;
    while (batches.size() < kChunk) {
      auto b = loader->next();
      if (!b) {
        more = false;
        break;
      }
      // The file's input size (exported with --input N): the reader's images resized to it.
      if (dims[2] > 0 && dims[3] > 0 && (b->images.size(2) != dims[2] || b->images.size(3) != dims[3]))
        b->images = torch::upsample_bilinear2d(b->images, {dims[2], dims[3]}, /*align_corners=*/false);
      const bool one = arch.batch_one || (dims[0] > 0 && dims[0] != b->size());
      for (auto& x : one ? split_batch(*b) : std::vector<Batch>{std::move(*b)}) {
        images.push_back(x.images);
        batches.push_back(std::move(x));
      }
    }
    if (batches.empty()) break;
    const OrtRun run = runtime == "onednn" ? run_onednn(onnx_path, images) : run_onnxruntime(onnx_path, images);
    for (size_t i = 0; i < batches.size(); ++i) {
      const auto& b = batches[i];
      check_onnx_outputs(model, n_raw, run.outputs[i].size(), onnx_path, "eval --onnx");
      const int64_t H = b.images.size(2), W = b.images.size(3);
      const auto d = onnx_detections(model, run.outputs[i], n_raw, H, W);
      for (int64_t k = 0; k < b.size(); ++k) {
        auto c = to_coco_detections(d[k], b.image_ids[k], H, W, b.orig_sizes[k][0].item<double>(),
                                    b.orig_sizes[k][1].item<double>(), *ds);
        dets.insert(dets.end(), c.begin(), c.end());
      }
      out.images += b.size();
      progress.update(out.images);
    }
  }
  if (out.images == 0) fail("eval --onnx: EvalReader gives no images");
  out.result = evaluate_coco(ds->file(), dets);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace compress
