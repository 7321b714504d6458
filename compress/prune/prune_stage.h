// What the prune stage does to a model, shared by `compress prune` and the
// pruned student of `compress distill`: prune it as the options say and
// report, record its new shapes, and the rules for where it may start.
#pragma once
#include <memory>
#include <string>

#include "compress/model_transforms.h"
#include "compress/prune/prune_options.h"
#include "compress/prune/report.h"
#include "compress/stage.h"

namespace compress {
class Config;
struct DetectorImpl;
}  // namespace compress
namespace torch::nn {
class Module;
}

namespace compress::prune {

// Loads `weights` into a model built from `cfg`, re-applying recorded
// transforms (earlier pruning); refuses a QAT checkpoint (prune first, then quantize).
std::shared_ptr<DetectorImpl> load_unquantized(const Config& cfg, const std::string& weights);

// The pruned shapes of `model` against a fresh build of `cfg` (earlier pruning
// included), as the checkpoint records them.
PruneShapes prune_shapes(const Config& cfg, torch::nn::Module& model, const std::string& criterion);

// How a pruning stage (prune, distill's pruned student) starts: a resumed
// checkpoint must be pruned and not QAT; pretrain_weights must be float.
StageRules prune_stage_rules(const std::string& random_init);

// Prunes `model` as `o` asks (logs the table, writes RUN_DIR/prune_report.json
// and prune_report.png).
PruneReport prune_and_report(const Config& cfg, DetectorImpl& model, const PruneRunOptions& o,
                             const std::string& run_dir);

}  // namespace compress::prune
