// The teacher side of distillation: loading it frozen, checking that its
// outputs mean what the student's mean, and scoring both before training.
#pragma once
#include <memory>
#include <string>

namespace compress {
class Config;
struct DetectorImpl;
class DistContext;
}  // namespace compress

namespace compress::distill {

// With --eval: the teacher's AP and the loaded student's before pruning, on the
// student's EvalReader; -1 where not measured (resumed runs, ranks other than
// 0, no student weights).
struct DistillBaseline {
  double teacher_ap = -1, student_ap = -1;
};

// Scores the teacher (and the student, when given) on cfg's EvalReader, on the
// training device, and logs both; warns when the teacher is no better than the
// student. With a process group (a collective: every rank calls it) the ranks
// share the images and rank 0 alone gets and logs the scores.
DistillBaseline evaluate_baseline(const Config& cfg, DetectorImpl& teacher, DetectorImpl* student,
                                  DistContext* dist = nullptr);

// The teacher, frozen: eval mode, no parameter requires grad.
std::shared_ptr<DetectorImpl> load_teacher(const Config& teacher_cfg, const std::string& weights);

// Teacher and student must agree on what their outputs mean: architecture,
// classes, anchors and masks, and input size. The error names both values.
void check_compatible(const Config& student, const Config& teacher);

}  // namespace compress::distill
