// Distillation losses between a frozen teacher's and a student's raw YOLOv3
// head outputs, one map per scale: (N, A * (5 + C), H, W), channels per anchor
// [x, y, w, h, objectness, class logits...].
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace compress::distill {

struct DistillTerms {
  at::Tensor box, cls, obj;  // scalars, summed over scales, unweighted
};

// The reference's fine-grained YOLOv3 distillation (PaddleDetection
// slim/distillation), per scale, with SCE(x, p) the sigmoid cross-entropy of
// logit x against the soft target p:
//   box = mean_{n,a,h,w}( sig(t_obj) * [SCE(s_x, sig(t_x)) + SCE(s_y, sig(t_y)) + |s_w - t_w| + |s_h - t_h|] )
//   cls = mean_{n,a,c,h,w}( SCE(s_cls, sig(t_cls)) * sig(t_obj) )
//   obj = mean_{n,a,h,w}( SCE(s_obj, 1[t_obj > 0]) )
// obj_target (`distill.obj_target`): "hard" is the reference's 1[t_obj > 0];
// "soft" uses sig(t_obj), the teacher's own confidence (a teacher that is
// often wrong then says how sure it is); "off" drops the term (obj = 0).
DistillTerms yolov3_distill_loss(const std::vector<at::Tensor>& student, const std::vector<at::Tensor>& teacher,
                                 int64_t num_anchors_per_scale, const std::string& obj_target = "hard");

// L2 between head maps: sum over scales of mean((s - t)^2).
at::Tensor l2_distill_loss(const std::vector<at::Tensor>& student, const std::vector<at::Tensor>& teacher);

}  // namespace compress::distill
