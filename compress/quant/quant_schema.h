// The `quant` section of a config: owned here, composed into the schema by
// compress/config_sections.h. Choice lists come from quant_options.h.
#pragma once
#include "train/config/schema.h"

namespace compress::quant {

config::Field quant_schema();

}  // namespace compress::quant
