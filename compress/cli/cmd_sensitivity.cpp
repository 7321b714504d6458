// `compress sensitivity -c CONFIG -o pretrain_weights=CKPT --pruned_params "..." [--ratios 0.1,...,0.9]
//   [--prune_criterion ...] [--output FILE.json] [--plot FILE.png]`
#include "compress/cli/command.h"
#include "compress/prune/criteria.h"
#include "compress/prune/names.h"
#include "compress/prune/sensitivity.h"
#include "train/config/config.h"
#include "train/engine/runtime.h"

namespace compress {
namespace {

class SensitivityCommand : public Command {
 public:
  explicit SensitivityCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("sensitivity", "per-layer pruning sensitivity: AP loss at each ratio, JSON + PNG");
    flags_.add(app_, /*required=*/true);
    app_->add_option("--pruned_params", params_, "comma-separated conv weights or globs to analyse")->required();
    app_->add_option("--ratios", ratios_, "comma-separated ratios to try (default 0.1,...,0.9)");
    app_->add_option("--prune_criterion", opt_.criterion, "l1_norm or geometry_median (FPGM)")
        ->check(CLI::IsMember(prune::criterion_names()));
    app_->add_option("--output", opt_.output, "JSON (default: save_dir/<config name>_sensitivity/sensitivities.json)");
    app_->add_option("--plot", opt_.plot, "PNG (default: beside the JSON)");
  }
  CLI::App* app() const override { return app_; }
  bool data_parallel() const override { return true; }
  int run() override {
    const Config cfg = flags_.load();
    apply_runtime_settings(cfg);
    opt_.params = prune::split_list(params_, "--pruned_params");
    if (!ratios_.empty()) opt_.ratios = prune::parse_ratios(prune::split_list(ratios_, "--ratios"), "--ratios");
    prune::run_sensitivity(cfg, opt_);
    return 0;
  }

 private:
  CLI::App* app_;
  ConfigFlags flags_;
  prune::SensitivityOptions opt_;
  std::string params_, ratios_;
};

}  // namespace

std::unique_ptr<Command> make_sensitivity_command(CLI::App& parent) {
  return std::make_unique<SensitivityCommand>(parent);
}

}  // namespace compress
