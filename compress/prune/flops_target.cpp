#include "compress/prune/flops_target.h"

#include <fmt/format.h>

#include "train/util/error.h"

namespace compress::prune {

FlopsTarget loss_for_pruned_flops(const std::function<double(double)>& removed_at, double target, double lo, double hi,
                                  const std::string& source, const std::string& layers, double tol) {
  if (!(target > 0 && target < 1))
    fail("--pruned_flops is ", target, "; give the fraction of FLOPs to remove, in (0, 1)");
  if (!(lo < hi)) fail("'", source, "': no loss range to search (", lo, " .. ", hi, ")");
  FlopsTarget r;
  double removed_hi = removed_at(hi);
  ++r.trials;
  if (removed_hi < target)
    fail("'", source, "': ", layers, " at their largest measured ratios remove ",
         fmt::format("{:.1f}", 100.0 * removed_hi), "% of the FLOPs, less than --pruned_flops ", target,
         "; measure larger ratios or more layers with `compress sensitivity`");
  // Invariant: removed_at(lo) < target <= removed_at(hi).
  while (hi - lo > tol) {
    const double mid = 0.5 * (lo + hi);
    const double removed = removed_at(mid);
    ++r.trials;
    if (removed >= target) {
      hi = mid;
      removed_hi = removed;
    } else {
      lo = mid;
    }
  }
  r.max_loss = hi;
  r.removed = removed_hi;
  return r;
}

}  // namespace compress::prune
