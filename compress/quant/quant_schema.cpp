#include "compress/quant/quant_schema.h"

#include "compress/quant/quant_options.h"

namespace compress::quant {

config::Field quant_schema() {
  using namespace config;
  return Section(
      {{"weight_quantize_type", Str(name_of(WeightQuantizeType::ChannelWiseAbsMax), weight_quantize_types())},
       {"activation_quantize_type",
        Str(name_of(ActivationQuantizeType::MovingAverageAbsMax), activation_quantize_types())},
       {"weight_bits", Int(8).within(2, 16)},
       {"activation_bits", Int(8).within(2, 16)},
       {"moving_rate", Float(0.9, "moving_average_abs_max decay").within(0, 1)},
       {"window_size", Int(10000, "range_abs_max window, in steps").at_least(1)},
       {"not_quant_pattern", StrList({}, "conv paths containing any of these stay float")},
       {"freeze_bn_iter", Int(-1, "QAT steps before BN statistics freeze; -1 = never").at_least(-1)},
       {"quantize_outputs", Bool(true,
                                 "observe conv output scales and run int8 outputs in eval and export "
                                 "(ONNX Runtime then fuses int8 convs); false = inputs only")},
       {"reduce_range", Bool(false,
                             "weights on [-63, 63] for x86 CPUs without VNNI (their u8s8 int16 sums "
                             "saturate otherwise)")},
       {"round_after_activation",
        Bool(false,
             "round a conv's output after its h-swish / leaky ReLU / hard-sigmoid (fused into the int8 conv) "
             "instead of before it (h-swish then in its int8 form)")},
       {"max_iters", Int(0, "QAT steps; 0 = the recipe's max_iters").at_least(0)},
       {"base_lr", Float(0.0, "QAT learning rate; 0 = the recipe's").at_least(0)},
       {"calib_batches", Int(10, "PTQ (--post): batches that calibrate activation scales").at_least(1)}},
      "quantization-aware training and post-training quantization (`compress quant`)");
}

}  // namespace compress::quant
