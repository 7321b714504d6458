#include "compress/export/onnx_detections.h"

#include "train/data/loader.h"

#include <torch/torch.h>

#include "compress/export/architectures.h"
#include "train/models/detector.h"
#include "train/util/error.h"

namespace compress {

void check_onnx_outputs(const DetectorImpl& model, size_t n_raw, size_t n_ort, const std::string& onnx_path,
                        const std::string& what) {
  const ArchitectureExport& a = architecture_export(model);
  for (size_t k : a.decoded_counts)
    if (n_ort == n_raw + k) return;
  std::string expected;
  if (a.decoded_counts.size() == 1) {
    expected = std::to_string(n_raw + a.decoded_counts[0]) + " (" + std::to_string(n_raw) + " " + a.raw_what + ", " +
               a.decoded_what + ")";
  } else {
    expected = std::to_string(n_raw);
    for (size_t k : a.decoded_counts)
      if (k) expected += " (" + std::to_string(n_raw + k) + " with --with_postprocess)";
  }
  fail(what, ": '", onnx_path, "' has ", n_ort, " outputs, but an export of this config's model has ", expected,
       "; was it exported from another config?");
}

std::vector<ImageDetections> onnx_detections(DetectorImpl& model, const std::vector<torch::Tensor>& outputs,
                                             size_t n_raw, int64_t H, int64_t W) {
  TORCH_CHECK(outputs.size() >= n_raw, "onnx_detections: ", outputs.size(), " outputs, fewer than the ", n_raw,
              " raw head maps");
  const auto& detections = architecture_export(model).detections;
  if (detections) return detections(model, outputs, n_raw, H, W);
  return model.postprocess({outputs.begin(), outputs.begin() + static_cast<std::ptrdiff_t>(n_raw)}, H, W);
}

std::vector<Batch> split_batch(const Batch& b) {
  std::vector<Batch> out;
  for (int64_t i = 0; i < b.size(); ++i) {
    Batch one;
    one.images = b.images.slice(0, i, i + 1);
    one.boxes = b.boxes.slice(0, i, i + 1);
    one.labels = b.labels.slice(0, i, i + 1);
    one.scores = b.scores.slice(0, i, i + 1);
    one.num_boxes = b.num_boxes.slice(0, i, i + 1);
    one.orig_sizes = b.orig_sizes.slice(0, i, i + 1);
    one.image_ids = {b.image_ids[static_cast<size_t>(i)]};
    one.index = b.index;
    out.push_back(std::move(one));
  }
  return out;
}

}  // namespace compress
