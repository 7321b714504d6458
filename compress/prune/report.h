// What a pruning did: per pruned layer and in total, channels, parameters and
// FLOPs before and after, and the kept channel indices. Printed as a Markdown
// table and written as JSON (prune_report.json).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "compress/prune/pruner.h"

namespace torch::nn {
class Module;
}

namespace compress::prune {

struct LayerReport {
  std::string param;  // "yolo_block.0.0.0.conv.weight"
  double ratio = 0;
  int64_t channels_before = 0, channels_after = 0;
  int64_t params_before = 0, params_after = 0;  // this conv's weight + bias
  int64_t flops_before = 0, flops_after = 0;    // this conv, per image
};

// One conv of the model, traced before and after pruning: a pruned group also
// thins the convs that read its channels.
struct ConvChange {
  std::string module;  // "yolo_block.0.0.1.conv"
  int64_t params_before = 0, params_after = 0;
  int64_t flops_before = 0, flops_after = 0;  // every run of the conv, per image
};

struct PruneReport {
  std::string criterion;
  int64_t input_size = 0;
  std::vector<LayerReport> layers;
  int64_t params_before = 0, params_after = 0;          // every model parameter
  int64_t flops_before = 0, flops_after = 0;            // every conv
  int64_t head_flops_before = 0, head_flops_after = 0;  // convs outside `backbone.`
  std::vector<ConvChange> convs;                        // every conv, in traced order
  KeptIndices kept;                                     // per module axis
  std::vector<PrunedGroup> groups;

  std::string table() const;    // Markdown
  std::string to_json() const;  // the report with kept indices
};

// prune_report.png: the multiply-adds of every conv pruning changed, before
// (grey) and after (colour), the 40 that lost the most when more changed.
void plot_prune_report(const PruneReport& r, const std::string& png);

// Traces the model at input_size, plans `specs` with `criterion` (kept
// channels rounded to multiples of round_to), slices the model, and measures
// before and after.
PruneReport prune_model(torch::nn::Module& model, const std::vector<PruneSpec>& specs, const std::string& criterion,
                        int64_t input_size, int64_t round_to = 1, GroupScore score = GroupScore::Named,
                        bool skip_coupled = false);

// `<conv path>.weight` of every conv, in module order.
std::vector<std::string> conv_weight_names(torch::nn::Module& model);

}  // namespace compress::prune
