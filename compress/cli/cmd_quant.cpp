// `compress quant -c CONFIG [--not_quant_pattern P ...] [--eval] [--post] [-r CKPT] [-o key=value ...]`
#include "compress/cli/command.h"
#include "compress/quant/run_quant.h"
#include "train/config/config.h"
#include "train/engine/runtime.h"

namespace compress {
namespace {

class QuantCommand : public Command {
 public:
  explicit QuantCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("quant", "quantization-aware training (or --post: post-training quantization)");
    flags_.add(app_, /*required=*/true);
    app_->add_option("--not_quant_pattern", patterns_,
                     "convs whose path contains any of these stay float (e.g. res_conv1 se_block)");
    app_->add_flag("--eval", opt_.eval, "evaluate at every snapshot (QAT) or after calibration (PTQ)");
    app_->add_flag("--post", opt_.post, "post-training quantization: calibrate quant.calib_batches batches, no training");
    app_->add_option("-r,--resume", opt_.resume, "resume a QAT run from its latest.pt");
    app_->add_option("--run-dir", opt_.run_dir, "output folder (default: save_dir/<config name>_quant or _ptq)");
  }
  CLI::App* app() const override { return app_; }
  int run() override {
    const Config cfg = flags_.load();
    apply_runtime_settings(cfg);
    if (app_->count("--not_quant_pattern")) opt_.not_quant_pattern = patterns_;
    quant::run_quant(cfg, opt_);
    return 0;
  }

 private:
  CLI::App* app_;
  ConfigFlags flags_;
  quant::QuantRunOptions opt_;
  std::vector<std::string> patterns_;
};

}  // namespace

std::unique_ptr<Command> make_quant_command(CLI::App& parent) { return std::make_unique<QuantCommand>(parent); }

}  // namespace compress
