// `compress train -c CONFIG [--eval] [-r CHECKPOINT] [-o key=value ...]`
#include <filesystem>

#include "compress/cli/command.h"
#include "compress/model_io.h"
#include "train/engine/checkpoint.h"
#include "train/engine/runtime.h"
#include "train/engine/trainer.h"
#include "train/util/error.h"

namespace compress {
namespace {

class TrainCommand : public Command {
 public:
  explicit TrainCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("train", "train a detector from a recipe");
    flags_.add(app_, /*required=*/true);
    app_->add_flag("--eval", opt_.eval, "evaluate on EvalReader at every snapshot and keep the best");
    app_->add_option("-r,--resume", opt_.resume, "resume from a checkpoint (e.g. RUN_DIR/latest.pt)");
    app_->add_option("--run-dir", opt_.run_dir, "output folder (default: save_dir/<config name>)");
  }
  CLI::App* app() const override { return app_; }
  bool data_parallel() const override { return true; }
  int run() override {
    const Config cfg = flags_.load();
    apply_runtime_settings(cfg);
    // A pruned or QAT checkpoint (to resume, or to start from) carries the
    // transforms that rebuild its shapes before its values load.
    Detector model = build_detector(cfg);
    const std::string from = !opt_.resume.empty() ? opt_.resume : cfg.get<std::string>("pretrain_weights");
    if (!from.empty()) {
      const ModelTransforms t = read_transforms(from);
      opt_.transforms = t.to_json();
      apply_transforms(model, t, from);
    }
    Trainer trainer(cfg, model, opt_);
    trainer.train();
    return 0;
  }

 private:
  CLI::App* app_;
  ConfigFlags flags_;
  TrainOptions opt_;
};

}  // namespace

std::unique_ptr<Command> make_train_command(CLI::App& parent) { return std::make_unique<TrainCommand>(parent); }

}  // namespace compress
