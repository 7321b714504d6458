// The `prune` section of a config: owned here, composed into the schema by
// compress/config_sections.h. Choice lists come from criteria.h and pruner.h.
#pragma once
#include "train/config/schema.h"

namespace compress::prune {

config::Field prune_schema();

}  // namespace compress::prune
