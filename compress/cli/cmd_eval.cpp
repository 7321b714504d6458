// `compress eval --gt GT.json --dets DETS.json [--out STATS.json]`: score a results file.
// `compress eval -c CONFIG -w WEIGHTS [--out STATS.json]`: run a model on EvalReader and score it.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "compress/cli/command.h"
#include "compress/model_io.h"
#include "train/config/config.h"
#include "train/data/coco_json.h"
#include "train/data/reader.h"
#include "train/engine/checkpoint.h"
#include "train/engine/evaluate.h"
#include "train/engine/runtime.h"
#include "train/engine/trainer.h"
#include "train/eval/coco_eval.h"
#include "train/util/error.h"

namespace compress {
namespace {

class EvalCommand : public Command {
 public:
  explicit EvalCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("eval", "COCO box evaluation: of a results file, or of a model on EvalReader");
    auto* gt = app_->add_option("--gt", gt_, "COCO instances JSON (ground truth)");
    auto* dets = app_->add_option("--dets", dets_, "COCO results JSON (detections)");
    gt->needs(dets);
    dets->needs(gt);
    flags_.add(app_, /*required=*/false);
    app_->add_option("-w,--weights", weights_, "checkpoint (default: the config's weights)");
    app_->add_option("--out", out_, "write the 12 statistics as JSON here");
    app_->add_option("--dets-out", dets_out_, "model mode: write the detections (COCO results JSON) here");
  }
  CLI::App* app() const override { return app_; }
  int run() override {
    CocoEvalResult r;
    if (!gt_.empty()) {
      if (!flags_.config.empty()) throw CLI::ValidationError("--gt/--dets and -c are exclusive");
      const CocoFile gt = read_coco_instances(gt_);  // GT first: its errors come first
      r = evaluate_coco(gt, read_coco_results(dets_));
    } else {
      if (flags_.config.empty()) fail("eval needs --gt and --dets, or -c CONFIG [-w WEIGHTS]");
      r = evaluate_model();
    }
    std::cout << r.stats.table();
    if (!out_.empty()) write_file_atomic(out_, r.stats.to_json().dump(1) + "\n");
    return 0;
  }

 private:
  CocoEvalResult evaluate_model() {
    const Config cfg = flags_.load();
    apply_runtime_settings(cfg);
    std::string w = weights_.empty() ? cfg.get<std::string>("weights") : weights_;
    if (w.empty()) w = (std::filesystem::path(default_run_dir(cfg)) / "model_final.pt").string();
    auto model = load_detector(cfg, w);
    auto ds = load_dataset(cfg, "EvalReader");
    auto loader = make_loader(cfg, "EvalReader", ds);
    const EvalRun run = run_evaluation(*model, *loader, *ds);
    const std::string dets_path =
        dets_out_.empty() ? (std::filesystem::path(w).parent_path() / "eval_dets.json").string() : dets_out_;
    write_coco_results(dets_path, run.dets);
    spdlog::info("{} images in {:.1f} s ({:.1f} img/s); detections in {}", run.images, run.seconds,
                 run.images / std::max(run.seconds, 1e-9), dets_path);
    return run.result;
  }

  CLI::App* app_;
  ConfigFlags flags_;
  std::string gt_, dets_, out_, weights_, dets_out_;
};

}  // namespace

std::unique_ptr<Command> make_eval_command(CLI::App& parent) { return std::make_unique<EvalCommand>(parent); }

}  // namespace compress
