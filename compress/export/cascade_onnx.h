// Cascade R-CNN as one ONNX graph: the dense part (backbone, FPN, RPN head), the
// proposals (per level TopK, decode, clip, size filter, NonMaxSuppression; then
// the best over all levels), multi-level RoiAlign and the cascade stages, as
// CascadeRCNNImpl::forward, proposals() and refine() compute them. Batch 1:
// the number of proposals is data-dependent.
//
// Input "image" (1, 3, H, W), H and W multiples of the backbone's last tap
// stride. Outputs, in this order:
//   fpn_p{l}      (1, C, H / 2^l, W / 2^l)  FPN levels l = min_level..max_level
//   rpn_cls_p{l}  (1, A, H / 2^l, W / 2^l)  objectness logits
//   rpn_bbox_p{l} (1, 4A, H / 2^l, W / 2^l) anchor deltas
//   proposals     (R, 4) xyxy input pixels, best objectness first, R <= post_nms_top_n
//   boxes         (R, 4) xyxy input pixels, the last stage's
//   scores        (R, C + 1) softmax averaged over the stages, column 0 background
// NMS over the classes stays in application code, as for SSD and YOLOv3.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace compress {
struct CascadeRCNNImpl;
namespace onnx_export {
class Emitter;
class OnnxGraph;

// Emits the model on graph input "image" and declares its outputs; returns their names.
std::vector<std::string> emit_cascade_rcnn(Emitter& e, OnnxGraph& g, CascadeRCNNImpl& m, int64_t height, int64_t width);

}  // namespace onnx_export
}  // namespace compress
