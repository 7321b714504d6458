#include "compress/distill/run_distill.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include "compress/prune/prune_stage.h"
#include "compress/stage.h"
#include "train/config/config.h"
#include "train/engine/distributed.h"
#include "train/engine/trainer.h"
#include "train/util/error.h"

namespace compress::distill {

DistillRunResult run_distill(Config cfg, DistillRunOptions o) {
  apply_stage_overrides(cfg, "distill");
  if (o.teacher_config.empty()) fail("distill: --teacher_config is required");
  const Config tcfg = load_config(o.teacher_config);
  check_compatible(cfg, tcfg);
  auto teacher = load_teacher(tcfg, o.teacher_weights);
  spdlog::info("teacher: {} from '{}' (frozen, eval mode)", o.teacher_config, o.teacher_weights);

  DistillRunResult res;
  res.run_dir = o.run_dir.empty() ? default_run_dir(cfg) : o.run_dir;
  // The student: float or already pruned, never QAT; a resumed distillation
  // may be pruned or not.
  StageRules rules = prune::prune_stage_rules("distilling into a randomly initialised student");
  rules.refuse_resume = [](const ModelTransforms& t) -> std::string {
    return t.quant ? "is a QAT checkpoint; distillation trains float students" : "";
  };
  rules.weights_role = "student";
  StageStart start = start_stage(cfg, o.resume, rules);
  if (o.resume.empty()) {
    // With --eval, how good the guide is against the student it teaches, before
    // pruning changes the student. The process group is the one the Trainer
    // then uses (dist_init makes it once).
    if (o.eval) {
      const auto dist = dist_init(cfg);
      res.baseline = evaluate_baseline(cfg, *teacher, start.weights.empty() ? nullptr : start.model.get(), dist.get());
    }
    prune::fill_from_config(o.prune, cfg);
    if (!o.prune.params.empty() || !o.prune.sensitivities.empty()) {
      prune::prune_and_report(cfg, *start.model, o.prune, res.run_dir);
      start.transforms.prune = prune::prune_shapes(cfg, *start.model, o.prune.criterion);
    }
  }

  const std::string type = cfg.get<std::string>("distill.type");
  double weight = cfg.get<double>("distill.weight");
  if (weight <= 0) weight = type == "yolov3" ? 1000.0 : 100.0;
  const auto masks = cfg.at("YOLOv3Head.anchor_masks");
  const int64_t anchors_per_scale = static_cast<int64_t>(masks[0].size());
  const std::string obj_target = cfg.get<std::string>("distill.obj_target");
  spdlog::info("distillation: {} loss, weight {}{}", type, weight,
               type == "yolov3" ? ", objectness target " + obj_target : std::string());

  StageRun run;
  run.run_dir = res.run_dir;
  run.eval = o.eval;
  run.attach = [&](Trainer& trainer) {
    trainer.extra_loss = make_distill_loss(teacher, type, weight, anchors_per_scale, obj_target);
  };
  res.ap = run_stage(cfg, start, run);
  return res;
}

}  // namespace compress::distill
