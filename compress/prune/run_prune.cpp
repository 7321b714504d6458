#include "compress/prune/run_prune.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "compress/prune/criteria.h"
#include "compress/prune/prune_stage.h"
#include "train/config/config.h"
#include "train/engine/distributed.h"
#include "train/engine/evaluate.h"
#include "train/engine/trainer.h"
#include "train/util/atomic_file.h"

namespace compress::prune {
namespace fs = std::filesystem;

namespace {

// Under data parallelism the ranks share the images (the Trainer's process
// group, made here first); rank 0 logs, the others get -1.
double evaluate_ap(DetectorImpl& model, const Config& cfg, const std::string& what) {
  const auto dist = dist_init(cfg);
  const EvalRun run = evaluate_on_reader(cfg, model, dist.get());
  if (dist && !dist->is_main()) return -1;
  spdlog::info("{}: AP {:.4f} AP50 {:.4f}", what, run.result.stats.ap(), run.result.stats.ap50());
  return run.result.stats.ap();
}

}  // namespace

PruneRunResult run_prune(Config cfg, PruneRunOptions o) {
  fill_from_config(o, cfg);
  apply_stage_overrides(cfg, "prune");
  PruneRunResult res;
  res.run_dir = o.run_dir.empty() ? default_run_dir(cfg) + "_prune" : o.run_dir;
  if (o.resume.empty()) (void)make_criterion(o.criterion);  // a bad name fails before any work
  StageStart start = start_stage(cfg, o.resume, prune_stage_rules("pruning a randomly initialised model"));
  if (o.resume.empty()) {
    DetectorImpl& model = *start.model;
    if (o.pruned_flops > 0) o.max_loss = max_loss_for_pruned_flops(cfg, model, o).max_loss;
    (void)specs_from_options(model, o);  // bad names fail before the evaluation
    if (o.eval) res.ap_before = evaluate_ap(model, cfg, "before pruning");
    res.report = prune_and_report(cfg, model, o, res.run_dir);
    if (o.eval) res.ap_pruned = evaluate_ap(model, cfg, "right after pruning");
    start.transforms.prune = prune_shapes(cfg, model, o.criterion);
  }
  StageRun run;
  run.run_dir = res.run_dir;
  run.eval = o.eval;
  run.ap = res.ap_pruned;
  res.ap_final = run_stage(cfg, start, run);
  if (o.eval && cfg.get<int64_t>("max_iters") > 0) {
    nlohmann::json summary{
        {"ap_before", res.ap_before}, {"ap_pruned", res.ap_pruned}, {"ap_finetuned_best", res.ap_final}};
    write_file_atomic((fs::path(res.run_dir) / "prune_summary.json").string(), summary.dump(1) + "\n");
    spdlog::info("AP before {:.4f}, right after pruning {:.4f}, after fine-tuning (best snapshot) {:.4f}",
                 res.ap_before, res.ap_pruned, res.ap_final);
  }
  return res;
}

}  // namespace compress::prune
