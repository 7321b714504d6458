// What distillation adds to each training step: the teacher's outputs on the
// batch and the weighted distillation terms on top of the student's own loss.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace compress {
struct DetectorImpl;
struct Batch;
struct LossTerms;
}  // namespace compress

namespace compress::distill {

// The Trainer's extra_loss for distillation: runs the teacher (no-grad) on the
// batch and adds the weighted terms ("distill_box", "distill_cls",
// "distill_obj"; or "distill_l2") to the student's loss. For yolov3 it also
// logs "distill_gap": the three terms minus the teacher scored against itself
// on the batch, the part a student matching the teacher would not pay.
std::function<void(const std::vector<at::Tensor>&, const Batch&, LossTerms&)> make_distill_loss(
    std::shared_ptr<DetectorImpl> teacher, const std::string& type, double weight, int64_t anchors_per_scale,
    const std::string& obj_target = "hard");

}  // namespace compress::distill
