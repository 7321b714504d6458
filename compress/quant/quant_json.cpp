#include "compress/quant/quant_json.h"

#include <nlohmann/json.hpp>

namespace compress::quant {

nlohmann::json options_to_json(const QuantOptions& o) {
  return {{"weight_quantize_type", name_of(o.weight_quantize_type)},
          {"activation_quantize_type", name_of(o.activation_quantize_type)},
          {"weight_bits", o.weight_bits},
          {"activation_bits", o.activation_bits},
          {"moving_rate", o.moving_rate},
          {"window_size", o.window_size},
          {"not_quant_pattern", o.not_quant_pattern},
          {"freeze_bn_iter", o.freeze_bn_iter},
          {"quantize_outputs", o.quantize_outputs},
          {"reduce_range", o.reduce_range},
          {"round_after_activation", o.round_after_activation}};
}

QuantOptions options_from_json(const nlohmann::json& j) {
  QuantOptions o;
  o.weight_quantize_type =
      parse_weight_quantize_type(j.at("weight_quantize_type").get<std::string>(), "quant.weight_quantize_type");
  o.activation_quantize_type = parse_activation_quantize_type(j.at("activation_quantize_type").get<std::string>(),
                                                              "quant.activation_quantize_type");
  o.weight_bits = j.at("weight_bits").get<int64_t>();
  o.activation_bits = j.at("activation_bits").get<int64_t>();
  o.moving_rate = j.at("moving_rate").get<double>();
  o.window_size = j.at("window_size").get<int64_t>();
  o.not_quant_pattern = j.at("not_quant_pattern").get<std::vector<std::string>>();
  o.freeze_bn_iter = j.value("freeze_bn_iter", int64_t{-1});
  o.quantize_outputs = j.value("quantize_outputs", false);  // checkpoints from before output scales
  o.reduce_range = j.value("reduce_range", false);
  o.round_after_activation = j.value("round_after_activation", false);
  validate(o);
  return o;
}

}  // namespace compress::quant
