// Pruning to a FLOPs budget from a sensitivity file, as PaddleSlim's
// SensitivePruner does: search the per-layer loss bound (--max_loss) whose
// ratios remove the asked fraction of the model's FLOPs.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace compress::prune {

struct FlopsTarget {
  double max_loss = 0;  // the smallest bound found whose ratios reach the target
  double removed = 0;   // the fraction of FLOPs those ratios remove
  int64_t trials = 0;   // calls of removed_at
};

// removed_at(loss): the fraction of the model's FLOPs removed when every layer
// takes its largest ratio within `loss`; it never falls as loss grows, and is
// 0 at `lo` (below every measured loss). `hi` is a bound at which every layer
// takes its largest measured ratio. Bisects on the loss until the bracket is
// narrower than `tol` (the file keeps 4 significant digits), so the result
// removes at least `target` with the least loss the file's resolution allows.
// Fails (naming `source` and `layers`, e.g. "its 11 layers") when even `hi`
// removes less than `target`.
FlopsTarget loss_for_pruned_flops(const std::function<double(double)>& removed_at, double target, double lo, double hi,
                                  const std::string& source, const std::string& layers = "its layers",
                                  double tol = 1e-5);

}  // namespace compress::prune
