// The one table of detectors that export, verification, the decoding of a
// runtime's outputs and latency read, keyed by DetectorImpl::arch(). Each
// entry is filled by its lowering file (lower_ssdlite.cpp, lower_yolov3.cpp,
// lower_cascade_rcnn.cpp): adding a detector is its model file in
// train/models/ and one lowering file here. Nothing else chooses by type.
#pragma once
#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

#include "compress/export/onnx_export.h"
#include "train/models/detection.h"

namespace compress {
struct DetectorImpl;
namespace onnx_export {
class Emitter;
}

struct ArchitectureExport {
  std::string arch;  // DetectorImpl::arch()
  // Exported with batch 1 (Cascade R-CNN: its proposal count is per image);
  // else the batch dimension is symbolic.
  bool batch_one = false;
  // Where fully connected layers are lowered (a module path prefix; "" = none).
  std::string linear_prefix;
  // Writes the graph on input "image" (already declared); returns the output
  // names (declared as graph outputs by the caller unless declares_outputs).
  std::function<std::vector<std::string>(onnx_export::Emitter&, DetectorImpl&, const ExportOptions&)> lower;
  bool declares_outputs = false;
  // The ONNX rank of output `name` (when the caller declares them) and whether
  // its batch dimension is symbolic.
  std::function<std::pair<int64_t, bool>(const std::string& name)> output_rank;

  // After the n_raw raw maps (forward's outputs) an export holds one of these
  // numbers of decoded outputs: SSD and YOLOv3 {0, 2} (--with_postprocess),
  // Cascade R-CNN {3}. raw_what / decoded_what name them in errors.
  std::vector<size_t> decoded_counts;
  std::string raw_what, decoded_what;
  // LibTorch's values for the decoded outputs, from its raw ones (`ref_raw`);
  // where decoded_on_runtime_inputs, from the runtime's own raw outputs (so a
  // near-tie upstream cannot hide a real difference; then compared exactly).
  std::function<std::vector<torch::Tensor>(DetectorImpl&, const std::vector<torch::Tensor>& ref_raw,
                                           const std::vector<torch::Tensor>& runtime_raw, int64_t H, int64_t W)>
      reference_decoded;
  bool decoded_on_runtime_inputs = false;
  // Detections from one batch of a runtime's outputs (the n_raw raw maps
  // first), in input pixels, one list per image. Null: the raw maps through
  // the model's own postprocess (SSD, YOLOv3).
  std::function<std::vector<ImageDetections>(DetectorImpl&, const std::vector<torch::Tensor>& outputs, size_t n_raw,
                                             int64_t H, int64_t W)>
      detections;
  // LibTorch's work past forward() that the exported graph also holds, for a
  // fair latency (null = none).
  std::function<void(DetectorImpl&, const std::vector<torch::Tensor>& raw, int64_t H, int64_t W)> finish;
};

// The entry for `model`; an architecture without one is an error naming it.
const ArchitectureExport& architecture_export(const DetectorImpl& model);

}  // namespace compress
