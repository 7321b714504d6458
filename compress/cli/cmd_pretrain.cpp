// `compress pretrain -c RECIPE [-r CHECKPOINT] [--run-dir DIR] [-o pretrain.max_iters=N ...]`:
// the recipe's backbone, trained to classify Fashion-MNIST item crops; then
// `compress train -c RECIPE -o pretrain_weights=RUN_DIR/model_final.pt`.
#include "compress/cli/command.h"
#include "train/config/config.h"
#include "train/engine/pretrain.h"
#include "train/engine/runtime.h"

namespace compress {
namespace {

class PretrainCommand : public Command {
 public:
  explicit PretrainCommand(CLI::App& parent) {
    app_ = parent.add_subcommand(
        "pretrain", "pretrain a recipe's backbone as a Fashion-MNIST classifier (settings: the `pretrain` section)");
    flags_.add(app_, /*required=*/true);
    app_->add_option("-r,--resume", opt_.resume, "resume from a pretrain run's latest.pt");
    app_->add_option("--run-dir", opt_.run_dir, "output folder (default: save_dir/<config name>_backbone)");
  }
  CLI::App* app() const override { return app_; }
  int run() override {
    const Config cfg = flags_.load();
    apply_runtime_settings(cfg);
    run_pretrain(cfg, opt_);
    return 0;
  }

 private:
  CLI::App* app_;
  ConfigFlags flags_;
  PretrainOptions opt_;
};

}  // namespace

std::unique_ptr<Command> make_pretrain_command(CLI::App& parent) { return std::make_unique<PretrainCommand>(parent); }

}  // namespace compress
