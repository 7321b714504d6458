#include "train/data/normalization.h"

#include <vector>

#include "train/util/error.h"

namespace compress {

Normalization normalization_of(const Config& cfg, const std::string& section, const std::string& purpose) {
  Normalization n;
  bool found = false;
  for (const auto& t : cfg.at(section + ".sample_transforms")) {
    if (t["type"].as<std::string>() != "NormalizeImage") continue;
    const auto m = t["mean"].as<std::vector<float>>(), s = t["std"].as<std::vector<float>>();
    for (int c = 0; c < 3; ++c) n.mean[c] = m.at(c), n.std[c] = s.at(c);
    n.is_scale = t["is_scale"].as<bool>();
    found = true;
  }
  if (!found) fail("config '", cfg.source(), "': ", section, ".sample_transforms has no NormalizeImage ", purpose);
  return n;
}

}  // namespace compress
