#include "compress/quant/quant_options.h"

#include <algorithm>

#include "train/config/config.h"
#include "train/util/error.h"

namespace compress::quant {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

const std::vector<std::string>& weight_quantize_types() {
  static const std::vector<std::string> v = {"channel_wise_abs_max", "abs_max"};
  return v;
}

const std::vector<std::string>& activation_quantize_types() {
  static const std::vector<std::string> v = {"moving_average_abs_max", "abs_max", "range_abs_max"};
  return v;
}

const std::string& name_of(WeightQuantizeType t) { return weight_quantize_types().at(static_cast<size_t>(t)); }
const std::string& name_of(ActivationQuantizeType t) { return activation_quantize_types().at(static_cast<size_t>(t)); }

WeightQuantizeType parse_weight_quantize_type(const std::string& name, const std::string& key) {
  const auto& w = weight_quantize_types();
  const auto it = std::find(w.begin(), w.end(), name);
  if (it == w.end()) fail(key, ": unknown '", name, "' (valid: ", join(w), ")");
  return static_cast<WeightQuantizeType>(it - w.begin());
}

ActivationQuantizeType parse_activation_quantize_type(const std::string& name, const std::string& key) {
  const auto& a = activation_quantize_types();
  const auto it = std::find(a.begin(), a.end(), name);
  if (it == a.end()) fail(key, ": unknown '", name, "' (valid: ", join(a), ")");
  return static_cast<ActivationQuantizeType>(it - a.begin());
}

void validate(const QuantOptions& o) {
  if (o.weight_bits < 2 || o.weight_bits > 16) fail("quant.weight_bits must be in [2, 16], got ", o.weight_bits);
  if (o.reduce_range && o.weight_bits < 3)
    fail("quant.reduce_range needs quant.weight_bits >= 3 (it drops one bit), got ", o.weight_bits);
  if (o.activation_bits < 2 || o.activation_bits > 16)
    fail("quant.activation_bits must be in [2, 16], got ", o.activation_bits);
  if (!(o.moving_rate > 0 && o.moving_rate < 1)) fail("quant.moving_rate must be in (0, 1), got ", o.moving_rate);
  if (o.window_size < 1) fail("quant.window_size must be >= 1, got ", o.window_size);
}

QuantOptions quant_options_from_config(const Config& cfg) {
  QuantOptions o;
  o.weight_quantize_type = parse_weight_quantize_type(cfg.get<std::string>("quant.weight_quantize_type"));
  o.activation_quantize_type = parse_activation_quantize_type(cfg.get<std::string>("quant.activation_quantize_type"));
  o.weight_bits = cfg.get<int64_t>("quant.weight_bits");
  o.activation_bits = cfg.get<int64_t>("quant.activation_bits");
  o.moving_rate = cfg.get<double>("quant.moving_rate");
  o.window_size = cfg.get<int64_t>("quant.window_size");
  o.not_quant_pattern = cfg.get<std::vector<std::string>>("quant.not_quant_pattern");
  o.freeze_bn_iter = cfg.get<int64_t>("quant.freeze_bn_iter");
  o.quantize_outputs = cfg.get<bool>("quant.quantize_outputs");
  o.reduce_range = cfg.get<bool>("quant.reduce_range");
  o.round_after_activation = cfg.get<bool>("quant.round_after_activation");
  validate(o);
  return o;
}

}  // namespace compress::quant
