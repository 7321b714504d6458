// Overfitting a few images, the shared check that a detector's loss, target
// assignment and decoding learn: train in `dir`/overfit, then evaluate on the
// EvalReader (the same images in the overfit setting).
#pragma once
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/test_util.h"
#include "train/config/config.h"
#include "train/data/reader.h"
#include "train/engine/evaluate.h"
#include "train/engine/runtime.h"
#include "train/engine/trainer.h"

namespace testutil {

struct OverfitResult {
  double first_loss = 0, last_loss = 0;  // of the logged windows
  size_t logged = 0;                     // lines in metrics.jsonl
  double ap50 = 0;
  std::string table;  // the COCO stats, for failure messages
};

inline OverfitResult overfit(const compress::Config& cfg, const TempDir& dir) {
  compress::apply_runtime_settings(cfg);
  compress::TrainOptions opt;
  opt.run_dir = dir.file("overfit");
  compress::Trainer trainer(cfg, compress::build_detector(cfg), opt);
  trainer.train();
  OverfitResult r;
  std::ifstream in(dir.file("overfit/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const double loss = nlohmann::json::parse(line)["loss"].get<double>();
    if (r.logged++ == 0) r.first_loss = loss;
    r.last_loss = loss;
  }
  auto ds = compress::load_dataset(cfg, "EvalReader");
  auto loader = compress::make_loader(cfg, "EvalReader", ds);
  const auto run = compress::run_evaluation(trainer.model(), *loader, *ds, false);
  r.ap50 = run.result.stats.ap50();
  r.table = run.result.stats.table();
  return r;
}

}  // namespace testutil
