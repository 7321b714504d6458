// `compress distill`: the reference's prune-then-distill recipe in one run.
// The student (float, or already pruned) is optionally pruned, then trained
// with its own YOLOv3 loss plus a distillation loss against a frozen teacher:
// loaded in eval mode, run under no-grad, and never part of the student's
// parameters, optimizer or checkpoint.
#pragma once
#include <string>

#include "compress/distill/distill_hook.h"
#include "compress/distill/teacher.h"
#include "compress/prune/prune_options.h"

namespace compress {
class Config;
}

namespace compress::distill {

struct DistillRunOptions {
  std::string teacher_config, teacher_weights;
  prune::PruneRunOptions prune;  // params empty (and none in the config): no pruning
  bool eval = false;
  std::string resume;   // a distill run's latest.pt
  std::string run_dir;  // default: save_dir/<config stem>
};

struct DistillRunResult {
  std::string run_dir;
  double ap = -1;  // best snapshot AP with --eval
  DistillBaseline baseline;
};

DistillRunResult run_distill(Config cfg, DistillRunOptions o);

}  // namespace compress::distill
