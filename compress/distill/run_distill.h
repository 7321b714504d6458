// `compress distill`: the reference's prune-then-distill recipe in one run.
// The student (float, or already pruned) is optionally pruned, then trained
// with its own YOLOv3 loss plus a distillation loss against a frozen teacher:
// loaded in eval mode, run under no-grad, and never part of the student's
// parameters, optimizer or checkpoint.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compress/prune/run_prune.h"

namespace compress {
class Config;
struct DetectorImpl;
struct Batch;
struct LossTerms;
class DistContext;
}  // namespace compress

namespace compress::distill {

struct DistillRunOptions {
  std::string teacher_config, teacher_weights;
  prune::PruneRunOptions prune;  // params empty (and none in the config): no pruning
  bool eval = false;
  std::string resume;   // a distill run's latest.pt
  std::string run_dir;  // default: save_dir/<config stem>
};

// With --eval: the teacher's AP and the loaded student's before pruning, on the
// student's EvalReader; -1 where not measured (resumed runs, ranks other than
// 0, no student weights).
struct DistillBaseline {
  double teacher_ap = -1, student_ap = -1;
};

struct DistillRunResult {
  std::string run_dir;
  double ap = -1;  // best snapshot AP with --eval
  DistillBaseline baseline;
};

DistillRunResult run_distill(Config cfg, DistillRunOptions o);

// Scores the teacher (and the student, when given) on cfg's EvalReader, on the
// training device, and logs both; warns when the teacher is no better than the
// student. With a process group (a collective: every rank calls it) the ranks
// share the images and rank 0 alone gets and logs the scores.
DistillBaseline evaluate_baseline(const Config& cfg, DetectorImpl& teacher, DetectorImpl* student,
                                  DistContext* dist = nullptr);

// The teacher, frozen: eval mode, no parameter requires grad.
std::shared_ptr<DetectorImpl> load_teacher(const Config& teacher_cfg, const std::string& weights);

// The Trainer's extra_loss for distillation: runs the teacher (no-grad) on the
// batch and adds the weighted terms ("distill_box", "distill_cls",
// "distill_obj"; or "distill_l2") to the student's loss. For yolov3 it also
// logs "distill_gap": the three terms minus the teacher scored against itself
// on the batch, the part a student matching the teacher would not pay.
std::function<void(const std::vector<at::Tensor>&, const Batch&, LossTerms&)> make_distill_loss(
    std::shared_ptr<DetectorImpl> teacher, const std::string& type, double weight, int64_t anchors_per_scale);

// Teacher and student must agree on what their outputs mean: architecture,
// classes, anchors and masks, and input size. The error names both values.
void check_compatible(const Config& student, const Config& teacher);

}  // namespace compress::distill
