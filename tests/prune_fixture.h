// The reference's YOLOv3 pruning recipe, shared by the pruning, export and
// end-to-end tests: every conv of the three yolo_blocks, blocks 0 and 1 by
// 0.75 and block 2 by 0.875 (../shared/REFERENCE.md).
#pragma once
#include <string>
#include <vector>

#include "compress/prune/pruner.h"

namespace testutil {

inline std::vector<compress::prune::PruneSpec> reference_head_specs() {
  std::vector<compress::prune::PruneSpec> s;
  for (int b = 0; b < 3; ++b)
    for (const std::string l : {"0.0", "0.1", "1.0", "1.1", "2", "tip"})
      s.push_back({"yolo_block." + std::to_string(b) + "." + l + ".conv", b < 2 ? 0.75 : 0.875});
  return s;
}

// The same list as the CLI takes it, in the reference's spelling.
inline std::string reference_head_params() {
  std::string p;
  for (const auto& s : reference_head_specs()) p += (p.empty() ? "" : ",") + s.conv + ".weights";
  return p;
}

}  // namespace testutil
