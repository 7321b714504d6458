// `compress quant -c CONFIG [--not_quant_pattern P ...] [--eval] [--post] [-r CKPT] [-o key=value ...]`
// `compress quant -c CONFIG --analyze [--analyze_layers "a,b"] [--analyze_mode float_one|quant_one] -o
// pretrain_weights=FLOAT.pt`
#include "compress/cli/command.h"
#include "compress/prune/names.h"
#include "compress/quant/analyze.h"
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
    app_->add_flag("--post", opt_.post,
                   "post-training quantization: calibrate quant.calib_batches batches, no training");
    app_->add_option("-r,--resume", opt_.resume, "resume a QAT run from its latest.pt");
    app_->add_option("--run-dir", opt_.run_dir,
                     "output folder (default: save_dir/<config name>_quant, _ptq or _quant_analysis)");
    auto* analyze = app_->add_flag("--analyze", analyze_,
                                   "per-conv sensitivity: after PTQ calibration, the AP each conv recovers when it "
                                   "alone stays float (JSON, PNG and a table)");
    app_->add_option("--analyze_layers", layers_, "with --analyze: comma-separated substrings of the convs to analyse")
        ->needs(analyze);
    app_->add_option("--analyze_mode", mode_,
                     "with --analyze: float_one (each conv float, the rest quantized) or quant_one (each conv "
                     "quantized, the rest float)")
        ->needs(analyze)
        ->check(CLI::IsMember(quant::analysis_modes()));
    analyze->excludes("--post")->excludes("--resume")->excludes("--eval");
  }
  CLI::App* app() const override { return app_; }
  bool data_parallel() const override { return true; }
  int run() override {
    const Config cfg = flags_.load();
    apply_runtime_settings(cfg);
    if (app_->count("--not_quant_pattern")) opt_.not_quant_pattern = patterns_;
    if (analyze_) {
      quant::QuantAnalyzeOptions a;
      a.run_dir = opt_.run_dir;
      a.not_quant_pattern = opt_.not_quant_pattern;
      if (!layers_.empty()) a.layers = prune::split_list(layers_, "--analyze_layers");
      a.mode = mode_;
      quant::run_quant_analysis(cfg, a);
      return 0;
    }
    quant::run_quant(cfg, opt_);
    return 0;
  }

 private:
  CLI::App* app_;
  ConfigFlags flags_;
  quant::QuantRunOptions opt_;
  std::vector<std::string> patterns_;
  bool analyze_ = false;
  std::string layers_;
  std::string mode_ = "float_one";
};

}  // namespace

std::unique_ptr<Command> make_quant_command(CLI::App& parent) { return std::make_unique<QuantCommand>(parent); }

}  // namespace compress
