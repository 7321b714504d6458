// `compress prune`: load a float checkpoint, prune the named convs (or the
// ratios a sensitivity file gives under --max_loss), report, fine-tune with the
// recipe's schedule (shortened by the `prune` section), evaluate and save a
// checkpoint that records the new shapes.
#pragma once
#include <string>

#include "compress/prune/prune_stage.h"

namespace compress {
class Config;
}

namespace compress::prune {

struct PruneRunResult {
  PruneReport report;
  std::string run_dir;
  double ap_before = -1, ap_pruned = -1, ap_final = -1;  // with --eval
};

PruneRunResult run_prune(Config cfg, PruneRunOptions o);

}  // namespace compress::prune
