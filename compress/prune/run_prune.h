// `compress prune`: load a float checkpoint, prune the named convs (or the
// ratios a sensitivity file gives under --max_loss), report, fine-tune with the
// recipe's schedule (shortened by the `prune` section), evaluate and save a
// checkpoint that records the new shapes.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "compress/prune/flops_target.h"
#include "compress/prune/report.h"

namespace compress {
class Config;
struct DetectorImpl;
}  // namespace compress
namespace torch::nn {
class Module;
}

namespace compress::prune {

struct PruneRunOptions {
  std::vector<std::string> params;  // --pruned_params (split)
  std::vector<std::string> ratios;  // --pruned_ratios (split)
  std::string criterion;            // "" = the config's prune.criterion
  std::string sensitivities;        // --sensitivities FILE (instead of ratios)
  double max_loss = 0.02;           // with --sensitivities
  double pruned_flops = 0;          // with --sensitivities: search max_loss to remove this fraction of FLOPs
  bool eval = false;
  std::string resume;   // a pruned run's latest.pt
  std::string run_dir;  // default: save_dir/<stem>_prune
};

struct PruneRunResult {
  PruneReport report;
  std::string run_dir;
  double ap_before = -1, ap_pruned = -1, ap_final = -1;  // with --eval
};

PruneRunResult run_prune(Config cfg, PruneRunOptions o);

// Flags not given on the command line come from the config's `prune` section.
void fill_from_config(PruneRunOptions& o, const Config& cfg);

// The specs the CLI flags give for `model`: --pruned_params with
// --pruned_ratios, or --sensitivities with --max_loss.
std::vector<PruneSpec> specs_from_options(torch::nn::Module& model, const PruneRunOptions& o);

// With --pruned_flops: the --max_loss whose sensitivity ratios remove that
// fraction of `model`'s FLOPs (trial prunings of fresh copies; `model` is untouched).
FlopsTarget max_loss_for_pruned_flops(const Config& cfg, DetectorImpl& model, const PruneRunOptions& o);

// Loads `weights` into a model built from `cfg`, re-applying recorded
// transforms (earlier pruning); refuses a QAT checkpoint (prune first, then quantize).
std::shared_ptr<DetectorImpl> load_unquantized(const Config& cfg, const std::string& weights);

// The prune transform of `model` against a fresh build of `cfg`, as a
// checkpoint's meta.transforms JSON.
std::string prune_transforms(const Config& cfg, torch::nn::Module& model, const PruneRunOptions& o);

// Prunes `model` as `o` asks (logs the table, writes RUN_DIR/prune_report.json).
PruneReport prune_and_report(const Config& cfg, DetectorImpl& model, const PruneRunOptions& o,
                             const std::string& run_dir);

}  // namespace compress::prune
