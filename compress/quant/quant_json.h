// QuantOptions to and from the JSON a QAT checkpoint records.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include "compress/quant/quant_options.h"

namespace compress::quant {

nlohmann::json options_to_json(const QuantOptions& o);
QuantOptions options_from_json(const nlohmann::json& j);

}  // namespace compress::quant
