#include "compress/distill/distill_loss.h"

#include <torch/torch.h>

namespace compress::distill {
namespace {

// Sigmoid cross-entropy with logits x and soft targets p, elementwise:
// max(x, 0) - x * p + log(1 + exp(-|x|)).
torch::Tensor sce(const torch::Tensor& x, const torch::Tensor& p) {
  return torch::clamp_min(x, 0) - x * p + torch::log1p(torch::exp(-x.abs()));
}

void check_pair(const std::vector<at::Tensor>& s, const std::vector<at::Tensor>& t) {
  TORCH_CHECK(s.size() == t.size(), "distillation: the student has ", s.size(), " output maps, the teacher ", t.size());
  for (size_t i = 0; i < s.size(); ++i)
    TORCH_CHECK(s[i].sizes() == t[i].sizes(), "distillation: output ", i, " is ", s[i].sizes(), " for the student but ",
                t[i].sizes(), " for the teacher (same input size, anchors and classes needed)");
}

}  // namespace

DistillTerms yolov3_distill_loss(const std::vector<at::Tensor>& student, const std::vector<at::Tensor>& teacher,
                                 int64_t num_anchors_per_scale, const std::string& obj_target) {
  check_pair(student, teacher);
  TORCH_CHECK(obj_target == "hard" || obj_target == "soft" || obj_target == "off", "distill.obj_target '", obj_target,
              "' is not one of: hard, soft, off");
  DistillTerms r{torch::zeros({}), torch::zeros({}), torch::zeros({})};
  for (size_t i = 0; i < student.size(); ++i) {
    const auto& s0 = student[i];
    const int64_t n = s0.size(0), h = s0.size(2), w = s0.size(3), a = num_anchors_per_scale;
    TORCH_CHECK(s0.size(1) % a == 0 && s0.size(1) / a > 5, "distillation: output ", i, " has ", s0.size(1),
                " channels, not A * (5 + C) for A = ", a);
    const int64_t k = s0.size(1) / a;
    const auto s = s0.view({n, a, k, h, w});  // (N, A, 5 + C, H, W)
    const auto t = teacher[i].detach().view({n, a, k, h, w});
    const auto t_obj = torch::sigmoid(t.select(2, 4));  // (N, A, H, W)
    const auto reg = sce(s.select(2, 0), torch::sigmoid(t.select(2, 0))) +
                     sce(s.select(2, 1), torch::sigmoid(t.select(2, 1))) + (s.select(2, 2) - t.select(2, 2)).abs() +
                     (s.select(2, 3) - t.select(2, 3)).abs();
    r.box = r.box + (reg * t_obj).mean();
    const auto s_cls = s.narrow(2, 5, k - 5), t_cls = t.narrow(2, 5, k - 5);  // (N, A, C, H, W)
    r.cls = r.cls + (sce(s_cls, torch::sigmoid(t_cls)) * t_obj.unsqueeze(2)).mean();
    if (obj_target != "off") {
      const auto target = obj_target == "hard" ? (t.select(2, 4) > 0).to(s.scalar_type()) : t_obj;
      r.obj = r.obj + sce(s.select(2, 4), target).mean();
    }
  }
  return r;
}

at::Tensor l2_distill_loss(const std::vector<at::Tensor>& student, const std::vector<at::Tensor>& teacher) {
  check_pair(student, teacher);
  auto l = torch::zeros({});
  for (size_t i = 0; i < student.size(); ++i) l = l + (student[i] - teacher[i].detach()).pow(2).mean();
  return l;
}

}  // namespace compress::distill
