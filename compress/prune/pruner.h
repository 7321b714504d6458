// Physical channel pruning: plan which channels each named conv loses (scored
// on the weights by a criterion, spread over its channel group), then slice
// every member's tensors, the module options and the optimizer's state.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "compress/prune/criteria.h"
#include "compress/prune/graph.h"

namespace torch::nn {
class Module;
}
namespace torch::optim {
class Optimizer;
}

namespace compress::prune {

struct PruneSpec {
  std::string conv;  // conv module path, e.g. "yolo_block.0.0.0.conv"
  double ratio = 0;  // fraction of output channels removed, in [0, 1)
};

struct PrunedGroup {
  std::string conv;  // the named conv (the group's root)
  double ratio = 0;
  int64_t before = 0, after = 0;  // channels
  std::vector<int64_t> kept;      // kept root channels, ascending
  std::vector<Member> members;    // every coupled tensor owner
};

struct PrunePlan {
  std::vector<PrunedGroup> groups;
  // Channels to remove, in each module's own coordinates: "out" is a conv's
  // output axis (for a depthwise conv: in, out and groups) or a BN's features,
  // "in" a conv's input axis.
  std::map<std::string, std::set<int64_t>> remove_out, remove_in;
};

// How a coupled group (producers joined by an add, a concat or a depthwise
// conv) is scored. Named: only the named conv's filters, as PaddleSlim does
// (the reference's rule, the default). Sum: per root channel, the sum of every
// coupled producer's score (this toolkit's earlier rule; `prune.group_score: sum`).
enum class GroupScore { Named, Sum };
GroupScore group_score_from_name(const std::string& name);  // "named" | "sum"
const std::vector<std::string>& group_score_names();

// Removed channels: round(channels * ratio) with ties to even, as the
// reference's Python `round` (30 x 0.75 = 22.5 removes 22).
int64_t removed_count(int64_t channels, double ratio);

// Scores and plans every spec on the current weights. Errors: a group that
// cannot be pruned (with the reason), two specs in one group (or, with
// skip_coupled, as the reference treats layers picked from a sensitivity file:
// the later one is skipped with a warning naming both), a bad ratio.
// round_to > 1 rounds each group's kept channels to the nearest multiple of it
// (at least one multiple, never more than the group has), for runtimes whose
// kernels pack channels in blocks of 4, 8 or 16.
PrunePlan plan_pruning(torch::nn::Module& model, const DependencyGraph& graph, const std::vector<PruneSpec>& specs,
                       const Criterion& criterion, int64_t round_to = 1, GroupScore score = GroupScore::Named,
                       bool skip_coupled = false);

// Channels kept of `channels` when a ratio removes removed_count(channels, ratio),
// at least 1, rounded as plan_pruning rounds them.
int64_t kept_count(int64_t channels, double ratio, int64_t round_to = 1);

// The kept indices of every changed module axis, e.g. {"yolo_block.0.0.0.conv.out": [...]}.
using KeptIndices = std::map<std::string, std::vector<int64_t>>;

// Slices the model (and, when given, the optimizer's per-parameter state and
// the gradients) to the plan. Returns the kept indices per module axis.
KeptIndices apply_plan(torch::nn::Module& model, const PrunePlan& plan, torch::optim::Optimizer* optimizer = nullptr);

// The shapes of every conv and BN of `model` that differ from `fresh` (the same
// model as the config builds it), as a pruned checkpoint's meta.transforms
// records them: {"modules": {"<conv>": {"in":..,"out":..,"groups":..}, "<bn>": {"features":..}}}.
std::string shapes_json(torch::nn::Module& model, torch::nn::Module& fresh);
// Rebuilds those shapes on a freshly built model (values come from the checkpoint).
void apply_shapes(torch::nn::Module& model, const std::string& json, const std::string& source);

}  // namespace compress::prune
