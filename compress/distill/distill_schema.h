// The `distill` section of a config: owned here, composed into the schema by
// compress/config_sections.h.
#pragma once
#include <string>
#include <vector>

#include "train/config/schema.h"

namespace compress::distill {

// The distillation losses: "yolov3" (the reference's), "l2" on the head maps.
const std::vector<std::string>& distill_types();

config::Field distill_schema();

}  // namespace compress::distill
