#include "compress/distill/distill_schema.h"

namespace compress::distill {

const std::vector<std::string>& distill_types() {
  static const std::vector<std::string> v = {"yolov3", "l2"};
  return v;
}

config::Field distill_schema() {
  using namespace config;
  return Section(
      {{"type", Str(distill_types().front(), distill_types(), "the reference's YOLOv3 loss, or L2 on the head maps")},
       {"weight", Float(0.0, "loss weight; 0 = 1000 for yolov3, 100 for l2 (the reference's)").at_least(0)},
       {"max_iters", Int(0, "distillation steps; 0 = the recipe's max_iters").at_least(0)},
       {"base_lr", Float(0.0, "learning rate; 0 = the recipe's").at_least(0)},
       {"obj_target", Str("hard", {"hard", "soft", "off"},
                          "yolov3 objectness target: the teacher's 1[t_obj > 0] (the reference's), its sigmoid, or "
                          "no objectness term")}},
      "knowledge distillation (`compress distill`)");
}

}  // namespace compress::distill
