#include "compress/export/onnx_detections.h"

#include <torch/torch.h>

#include "train/models/cascade_rcnn.h"
#include "train/models/multiclass_nms.h"
#include "train/util/error.h"

namespace compress {

void check_onnx_outputs(const DetectorImpl& model, size_t n_raw, size_t n_ort, const std::string& onnx_path,
                        const std::string& what) {
  const bool cascade = dynamic_cast<const CascadeRCNNImpl*>(&model) != nullptr;
  if (cascade ? n_ort == n_raw + 3 : n_ort == n_raw || n_ort == n_raw + 2) return;
  fail(what, ": '", onnx_path, "' has ", n_ort, " outputs, but an export of this config's model has ",
       cascade
           ? std::to_string(n_raw + 3) + " (" + std::to_string(n_raw) + " FPN and RPN maps, proposals, boxes, scores)"
           : std::to_string(n_raw) + " (" + std::to_string(n_raw + 2) + " with --with_postprocess)",
       "; was it exported from another config?");
}

std::vector<ImageDetections> onnx_detections(DetectorImpl& model, const std::vector<torch::Tensor>& outputs,
                                             size_t n_raw, int64_t H, int64_t W) {
  TORCH_CHECK(outputs.size() >= n_raw, "onnx_detections: ", outputs.size(), " outputs, fewer than the ", n_raw,
              " raw head maps");
  if (auto* cascade = dynamic_cast<CascadeRCNNImpl*>(&model)) {
    TORCH_CHECK(outputs.size() == n_raw + 3,
                "onnx_detections: Cascade R-CNN exports end with proposals, boxes, scores");
    const auto &boxes = outputs[outputs.size() - 2], &scores = outputs[outputs.size() - 1];
    return {multiclass_nms(boxes, scores.slice(1, 1), H, W, cascade->opt.nms)};  // column 0 is background
  }
  const std::vector<torch::Tensor> raw(outputs.begin(), outputs.begin() + static_cast<std::ptrdiff_t>(n_raw));
  return model.postprocess(raw, H, W);
}

}  // namespace compress
