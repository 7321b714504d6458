// The options of a pruning (CLI flags, else the config's `prune` section) and
// the specs they give for a model: --pruned_params with --pruned_ratios, or a
// sensitivity file under --max_loss / --pruned_flops.
#pragma once
#include <string>
#include <vector>

#include "compress/prune/flops_target.h"
#include "compress/prune/names.h"

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

// Flags not given on the command line come from the config's `prune` section.
void fill_from_config(PruneRunOptions& o, const Config& cfg);

// The specs the CLI flags give for `model`: --pruned_params with
// --pruned_ratios, or --sensitivities with --max_loss.
std::vector<PruneSpec> specs_from_options(torch::nn::Module& model, const PruneRunOptions& o);

// With --pruned_flops: the --max_loss whose sensitivity ratios remove that
// fraction of `model`'s FLOPs (trial prunings of fresh copies; `model` is untouched).
FlopsTarget max_loss_for_pruned_flops(const Config& cfg, DetectorImpl& model, const PruneRunOptions& o);

}  // namespace compress::prune
