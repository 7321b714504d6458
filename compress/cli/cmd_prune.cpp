// `compress prune -c CONFIG --pruned_params "a.conv.weights,..." --pruned_ratios "0.75,..."
//   [--prune_criterion l1_norm|geometry_median]
//   [--sensitivities FILE (--max_loss 0.02 | --pruned_flops 0.3) [--pruned_params SUBSET]]
//   [--eval] [-r CKPT]`
#include "compress/cli/command.h"
#include "compress/prune/criteria.h"
#include "compress/prune/names.h"
#include "compress/prune/run_prune.h"
#include "train/config/config.h"
#include "train/engine/runtime.h"

namespace compress {
namespace {

class PruneCommand : public Command {
 public:
  explicit PruneCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("prune", "channel pruning with dependency tracking, then fine-tuning");
    flags_.add(app_, /*required=*/true);
    app_->add_option("--pruned_params", params_,
                     "comma-separated conv weights (reference '.conv.weights' or '.conv.weight'; '*' globs); "
                     "with --sensitivities: which of the file's layers to prune (default: all)");
    app_->add_option("--pruned_ratios", ratios_,
                     "comma-separated fractions of output channels removed (one, or one per name)");
    app_->add_option("--prune_criterion", opt_.criterion, "l1_norm or geometry_median (FPGM)")
        ->check(CLI::IsMember(prune::criterion_names()));
    app_->add_option("--sensitivities", opt_.sensitivities, "pick ratios from `compress sensitivity` output");
    max_loss_ =
        app_->add_option("--max_loss", opt_.max_loss, "with --sensitivities: the relative AP loss allowed per layer")
            ->check(CLI::Range(0.0, 1.0));
    app_->add_option("--pruned_flops", opt_.pruned_flops,
                     "with --sensitivities: the fraction of the model's FLOPs to remove; searches --max_loss for it")
        ->check(CLI::Range(0.0, 1.0))
        ->excludes(max_loss_);
    app_->add_flag("--eval", opt_.eval, "evaluate before, right after pruning, and at every fine-tuning snapshot");
    app_->add_option("-r,--resume", opt_.resume, "resume fine-tuning from a pruned run's latest.pt");
    app_->add_option("--run-dir", opt_.run_dir, "output folder (default: save_dir/<config name>_prune)");
  }
  CLI::App* app() const override { return app_; }
  bool data_parallel() const override { return true; }
  int run() override {
    const Config cfg = flags_.load();
    apply_runtime_settings(cfg);
    if (!params_.empty()) opt_.params = prune::split_list(params_, "--pruned_params");
    if (!ratios_.empty()) opt_.ratios = prune::split_list(ratios_, "--pruned_ratios");
    prune::run_prune(cfg, opt_);
    return 0;
  }

 private:
  CLI::App* app_;
  CLI::Option* max_loss_;
  ConfigFlags flags_;
  prune::PruneRunOptions opt_;
  std::string params_, ratios_;
};

}  // namespace

std::unique_ptr<Command> make_prune_command(CLI::App& parent) { return std::make_unique<PruneCommand>(parent); }

}  // namespace compress
