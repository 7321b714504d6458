#include "compress/quant/ptq.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <iostream>

#include "compress/quant/qat.h"
#include "train/config/config.h"
#include "train/data/loader.h"
#include "train/data/reader.h"
#include "train/engine/distributed.h"
#include "train/engine/evaluate.h"
#include "train/util/error.h"
#include "train/util/progress.h"

namespace compress::quant {

void calibrate(DetectorImpl& model, const Config& cfg, int64_t batches) {
  auto ds = load_dataset(cfg, "TrainReader");
  auto loader = make_loader(cfg, "EvalReader", ds);
  model.eval();
  set_calibrating(model, true);
  torch::NoGradGuard no_grad;
  const auto device = model.parameters()[0].device();
  loader->start_epoch(0);
  Progress prog("calibrate", batches, "batch", 5.0);
  int64_t n = 0;
  while (n < batches) {
    auto b = loader->next();
    if (!b) break;
    model.forward(b->images.to(device));
    prog.update(++n);
  }
  set_calibrating(model, false);
  if (n == 0) fail("quant calibration: TrainReader gave no batch to calibrate on");
  spdlog::info("calibrated activation scales on {} batches", n);
}

double run_ptq(const Config& cfg, StageStart& start, bool eval, const std::string& run_dir) {
  calibrate(*start.model, cfg, cfg.get<int64_t>("quant.calib_batches"));
  // Every rank calibrates on the same batches, so the scales agree; under a
  // launcher the ranks share the evaluation and rank 0 alone scores and saves.
  const auto dist = dist_init(cfg);
  double ap = -1;
  if (eval) {
    const EvalRun run = evaluate_on_reader(cfg, *start.model, dist.get());
    if (!dist || dist->is_main()) {
      ap = run.result.stats.ap();
      spdlog::info("PTQ eval: AP {:.4f} AP50 {:.4f}", ap, run.result.stats.ap50());
      std::cout << run.result.stats.table();
    }
  }
  save_final(cfg, *start.model, start.transforms, run_dir, ap);
  spdlog::info("PTQ model in {}/model_final.pt", run_dir);
  return ap;
}

}  // namespace compress::quant
