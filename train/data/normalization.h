// A reader section's NormalizeImage settings, read from the config: to undo
// them (reader previews) or to feed another pipeline the same inputs
// (`compress pretrain`'s classification crops). No torch in this header.
#pragma once
#include <array>
#include <string>

#include "train/config/config.h"

namespace compress {

struct Normalization {
  std::array<float, 3> mean{0, 0, 0}, std{1, 1, 1};  // RGB
  bool is_scale = false;                             // divide by 255 first
};

// The NormalizeImage of `section`.sample_transforms; an error naming the
// config file and the section if it has none.
Normalization normalization_of(const Config& cfg, const std::string& section, const std::string& purpose);

}  // namespace compress
