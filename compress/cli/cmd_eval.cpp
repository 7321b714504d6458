// `compress eval --gt GT.json --dets DETS.json [--out STATS.json]`: COCO box AP.
#include <iostream>
#include <nlohmann/json.hpp>

#include "compress/cli/command.h"
#include "train/data/coco_json.h"
#include "train/eval/coco_eval.h"
#include "train/util/error.h"

namespace compress {
namespace {

class EvalCommand : public Command {
 public:
  explicit EvalCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("eval", "COCO box evaluation of a results file");
    app_->add_option("--gt", gt_, "COCO instances JSON (ground truth)")->required();
    app_->add_option("--dets", dets_, "COCO results JSON (detections)")->required();
    app_->add_option("--out", out_, "write the 12 statistics as JSON here");
  }
  CLI::App* app() const override { return app_; }
  int run() override {
    const CocoFile gt = read_coco_instances(gt_);
    const auto dets = read_coco_results(dets_);
    const CocoEvalResult r = evaluate_coco(gt, dets);
    std::cout << r.stats.table();
    if (!out_.empty()) write_file_atomic(out_, r.stats.to_json().dump(1) + "\n");
    return 0;
  }

 private:
  CLI::App* app_;
  std::string gt_, dets_, out_;
};

}  // namespace

std::unique_ptr<Command> make_eval_command(CLI::App& parent) { return std::make_unique<EvalCommand>(parent); }

}  // namespace compress
