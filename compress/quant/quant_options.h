// QAT / PTQ settings: the reference's quant_config keys (PaddleSlim 1.x).
#pragma once
#include <string>
#include <vector>

namespace compress {
class Config;
}

namespace compress::quant {

// The reference's weight_quantize_type: one step per output channel, or one per tensor.
enum class WeightQuantizeType { ChannelWiseAbsMax, AbsMax };
// The reference's activation_quantize_type (compress/quant/observers.h).
enum class ActivationQuantizeType { MovingAverageAbsMax, AbsMax, RangeAbsMax };

// The reference's spelling of each ("channel_wise_abs_max", ...), as configs,
// checkpoints and reports write them.
const std::string& name_of(WeightQuantizeType t);
const std::string& name_of(ActivationQuantizeType t);
// Parsed once, from the config or a checkpoint; an unknown name is an error
// naming `key` and listing the valid names.
WeightQuantizeType parse_weight_quantize_type(const std::string& name,
                                              const std::string& key = "quant.weight_quantize_type");
ActivationQuantizeType parse_activation_quantize_type(const std::string& name,
                                                      const std::string& key = "quant.activation_quantize_type");

struct QuantOptions {
  WeightQuantizeType weight_quantize_type = WeightQuantizeType::ChannelWiseAbsMax;
  ActivationQuantizeType activation_quantize_type = ActivationQuantizeType::MovingAverageAbsMax;
  int64_t weight_bits = 8, activation_bits = 8;
  double moving_rate = 0.9;
  int64_t window_size = 10000;  // range_abs_max
  std::vector<std::string> not_quant_pattern;
  int64_t freeze_bn_iter = -1;  // freeze BN statistics after this many QAT steps (-1: never)
  // Observe every quantized conv's output scale (as the reference's out-scale
  // pass) and run int8 outputs in evaluation and export: the runtimes then fuse
  // DQ -> Conv -> Q into one int8 conv. False: input quantization only.
  bool quantize_outputs = true;
  // Weights on [-63, 63] (one bit less) instead of [-127, 127]: x86 CPUs without
  // VNNI sum u8 x s8 products pairwise into saturating int16 (vpmaddubsw), which
  // full-range weights can overflow; halved weights cannot (torch.ao's reduce_range).
  bool reduce_range = false;
  // Where a rounded conv output is rounded when its activation is h-swish,
  // leaky ReLU or hard-sigmoid. false (the default contract): before it, then
  // h-swish in its int8 form and the others in float on the rounded values.
  // true: after it, as after ReLU; the activation is part of the conv (one
  // int8 kernel with the activation as a post-op, as mobile int8 runtimes
  // fuse it), and what the next conv reads is float h-swish(conv) rounded
  // once, as in the reference's input-only simulation.
  bool round_after_activation = false;

  // The bits the weight grid uses: weight_bits, or one less with reduce_range.
  int64_t weight_grid_bits() const { return reduce_range ? weight_bits - 1 : weight_bits; }
  bool per_channel() const { return weight_quantize_type == WeightQuantizeType::ChannelWiseAbsMax; }
};

// The valid names, in the enums' order.
const std::vector<std::string>& weight_quantize_types();
const std::vector<std::string>& activation_quantize_types();

// From the config's `quant` section; errors list the valid values.
QuantOptions quant_options_from_config(const Config& cfg);
// Checks the values (also after CLI flags changed them).
void validate(const QuantOptions& o);

}  // namespace compress::quant
