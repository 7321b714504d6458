// The skeleton every compression stage shares (quant, prune, distill): its
// section's step and learning-rate overrides, where the model starts (resume,
// pretrain_weights or random init), the run without training, and the
// Trainer. A stage keeps only its own logic: what it does to the model and
// what it adds to each step.
#pragma once
#include <functional>
#include <string>

#include "compress/model_transforms.h"

namespace compress {

class Config;
class Trainer;

// A stage's section ("quant", "prune", "distill"): its max_iters and base_lr,
// when positive, replace the recipe's, as typed values (a learning rate of
// 1e-8 stays 1e-8).
void apply_stage_overrides(Config& cfg, const std::string& section);

// How a stage starts; the strings are the stage's own words in messages.
struct StageRules {
  // Why a checkpoint given to -r is not this stage's to resume ("" = it is),
  // e.g. "is not a QAT checkpoint; to start QAT from float weights use -o pretrain_weights=".
  std::function<std::string(const ModelTransforms&)> refuse_resume;
  std::string qat_weights_hint;                // pretrain_weights must be float: the error's advice
  std::string random_init;                     // the warning when there are no pretrain_weights
  std::string weights_role = "float weights";  // logged as "<role> from 'FILE'"
};

struct StageStart {
  Detector model;
  // Recorded so far: the resumed run's own, or the pretrain_weights'. On
  // resume `model` has the pruned shapes but not the QAT wrappers: the quant
  // stage wraps it again from transforms.quant.
  ModelTransforms transforms;
  std::string resume;   // -r ("" = a new run)
  std::string weights;  // the pretrain_weights loaded into `model` ("" = none)
};

// Resume (the Trainer loads the values later), else pretrain_weights (float,
// possibly pruned), else a random init with a warning.
StageStart start_stage(const Config& cfg, const std::string& resume, const StageRules& rules);

struct StageRun {
  std::string run_dir;
  bool eval = false;
  double ap = -1;  // recorded as best_ap when the stage does not train (max_iters 0)
  // The stage's additions to each step (hooks, extra losses).
  std::function<void(Trainer&)> attach;
};

// Trains the started model with the recipe's schedule and writes its
// checkpoints with `start.transforms`; with max_iters 0 only writes
// RUN_DIR/model_final.pt. Returns the best AP (-1 without evaluation).
double run_stage(Config cfg, StageStart& start, const StageRun& run);

// Writes RUN_DIR/model_final.pt (rank 0 alone) for a stage that does not train.
void save_final(const Config& cfg, DetectorImpl& model, const ModelTransforms& t, const std::string& run_dir,
                double ap);

}  // namespace compress
