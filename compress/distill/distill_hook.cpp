#include "compress/distill/distill_hook.h"

#include <torch/torch.h>

#include <algorithm>

#include "compress/distill/distill_loss.h"
#include "compress/distill/distill_schema.h"
#include "train/engine/trainer.h"
#include "train/util/error.h"

namespace compress::distill {

std::function<void(const std::vector<at::Tensor>&, const Batch&, LossTerms&)> make_distill_loss(
    std::shared_ptr<DetectorImpl> teacher, const std::string& type, double weight, int64_t anchors_per_scale,
    const std::string& obj_target) {
  const auto& types = distill_types();
  if (std::find(types.begin(), types.end(), type) == types.end())
    fail("distill.type '", type, "' is not one of: yolov3, l2");
  return [=](const std::vector<torch::Tensor>& outputs, const Batch& batch, LossTerms& terms) {
    TORCH_CHECK(!teacher->is_training(), "distill: the teacher left eval mode");
    std::vector<torch::Tensor> t;
    {
      torch::NoGradGuard no_grad;
      const auto dev = outputs[0].device();
      if (teacher->parameters()[0].device() != dev) teacher->to(dev);  // beside the student (use_gpu)
      t = teacher->forward(batch.images.to(dev));
    }
    if (type == "yolov3") {
      const DistillTerms d = yolov3_distill_loss(outputs, t, anchors_per_scale, obj_target);
      const auto box = d.box * weight, cls = d.cls * weight, obj = d.obj * weight;
      // The terms do not fall to 0: soft targets have entropy, and the hard
      // objectness target is not the teacher's own logit. Their floor on this
      // batch is the teacher scored against itself; distill_gap, the three
      // terms' excess over it, is what the student has left to learn from the
      // teacher (0 = it matches the teacher's outputs; below 0 where it is
      // surer than the teacher of the teacher's own objectness). Logged only.
      torch::Tensor gap;
      {
        torch::NoGradGuard no_grad;
        const DistillTerms f = yolov3_distill_loss(t, t, anchors_per_scale, obj_target);
        gap = ((d.box + d.cls + d.obj).detach() - (f.box + f.cls + f.obj)) * weight;
      }
      terms.terms.push_back({"distill_box", box});
      terms.terms.push_back({"distill_cls", cls});
      terms.terms.push_back({"distill_obj", obj});
      terms.terms.push_back({"distill_gap", gap});
      terms.total = terms.total + box + cls + obj;
    } else {
      const auto l2 = l2_distill_loss(outputs, t) * weight;
      terms.terms.push_back({"distill_l2", l2});
      terms.total = terms.total + l2;
    }
  };
}

}  // namespace compress::distill
