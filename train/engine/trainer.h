// The training loop shared by train, quant, prune fine-tuning and distill.
// "Compute gradients" and "apply the optimizer step" are separate seams: the
// distributed trainer all-reduces gradients between them.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "train/config/config.h"
#include "train/data/loader.h"
#include "train/engine/checkpoint.h"
#include "train/engine/distributed.h"
#include "train/engine/lr_schedule.h"
#include "train/engine/optimizer.h"
#include "train/models/detector.h"
#include "train/util/metrics_log.h"

namespace compress {

struct TrainOptions {
  bool eval = false;       // evaluate at every snapshot, keep the best
  std::string resume;      // checkpoint to resume from (-r)
  std::string run_dir;     // default: save_dir / <config file stem>
  std::string transforms;  // recorded in checkpoints (see TrainState::transforms)
};

class Trainer {
 public:
  Trainer(Config cfg, Detector model, TrainOptions opt);

  // Runs to max_iters (or from the resumed iteration). Returns the final state.
  TrainState train();

  // One step's seams: local gradients, then (with several processes) their
  // mean over ranks, then the optimizer step.
  LossTerms compute_gradients(const Batch& batch);
  void sync_gradients();
  void apply_step();

  // Extra loss terms added to the model's own (distillation plugs in here).
  std::function<void(const std::vector<torch::Tensor>& outputs, const Batch& batch, LossTerms& terms)> extra_loss;
  // Called before each step with the number of steps done (QAT freezes BN here).
  std::function<void(int64_t iter)> before_step;

  const std::string& run_dir() const { return run_dir_; }
  DetectorImpl& model() { return *model_; }
  OptimizerBundle& optimizer() { return opt_bundle_; }

 private:
  void snapshot(bool final_one);
  double evaluate(int64_t iter);

  Config cfg_;
  Detector model_;
  TrainOptions opt_;
  std::string run_dir_;
  OptimizerBundle opt_bundle_;
  LRSchedule schedule_;
  TrainState state_;
  std::shared_ptr<const CocoDataset> train_ds_, eval_ds_;
  std::unique_ptr<DataLoader> train_loader_, eval_loader_;
  std::unique_ptr<MetricsLog> metrics_;  // rank 0 only
  std::shared_ptr<DistContext> dist_;    // null for one process
  bool main_ = true;                     // rank 0: logs, evaluates, writes checkpoints and metrics
};

// The run folder for a config: save_dir / stem of the config file.
std::string default_run_dir(const Config& cfg);

}  // namespace compress
