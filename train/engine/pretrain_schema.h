// The `pretrain` section of a config (`compress pretrain`): owned here, added to
// the schema by compress/config_sections.h.
#pragma once
#include "train/config/schema.h"

namespace compress {

config::Field pretrain_schema();

}  // namespace compress
