// `compress distill -c CONFIG --teacher_config T.yml --teacher_weights T.pt
//   [--pruned_params ... --pruned_ratios ... --prune_criterion ...] [--eval] [-r CKPT] [-o pretrain_weights=STUDENT]`
#include "compress/cli/command.h"
#include "compress/distill/run_distill.h"
#include "compress/prune/criteria.h"
#include "compress/prune/names.h"
#include "train/config/config.h"
#include "train/engine/runtime.h"

namespace compress {
namespace {

class DistillCommand : public Command {
 public:
  explicit DistillCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("distill", "prune (optionally) and train a student with a frozen teacher");
    flags_.add(app_, /*required=*/true);
    app_->add_option("--teacher_config", opt_.teacher_config, "the teacher's recipe YAML")->required();
    app_->add_option("--teacher_weights", opt_.teacher_weights, "the teacher's checkpoint")->required();
    app_->add_option("--pruned_params", params_, "prune these conv weights first (as `compress prune`)");
    app_->add_option("--pruned_ratios", ratios_, "their ratios (one, or one per name)");
    app_->add_option("--prune_criterion", opt_.prune.criterion, "l1_norm or geometry_median")
        ->check(CLI::IsMember(prune::criterion_names()));
    app_->add_flag("--eval", opt_.eval, "evaluate at every snapshot and keep the best");
    app_->add_option("-r,--resume", opt_.resume, "resume from a distill run's latest.pt");
    app_->add_option("--run-dir", opt_.run_dir, "output folder (default: save_dir/<config name>)");
  }
  CLI::App* app() const override { return app_; }
  bool data_parallel() const override { return true; }
  int run() override {
    const Config cfg = flags_.load();
    apply_runtime_settings(cfg);
    if (!params_.empty()) opt_.prune.params = prune::split_list(params_, "--pruned_params");
    if (!ratios_.empty()) opt_.prune.ratios = prune::split_list(ratios_, "--pruned_ratios");
    distill::run_distill(cfg, opt_);
    return 0;
  }

 private:
  CLI::App* app_;
  ConfigFlags flags_;
  distill::DistillRunOptions opt_;
  std::string params_, ratios_;
};

}  // namespace

std::unique_ptr<Command> make_distill_command(CLI::App& parent) { return std::make_unique<DistillCommand>(parent); }

}  // namespace compress
