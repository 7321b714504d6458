// Turning a float detector into its QAT form: every conv (conv, depthwise conv
// and 1x1; the models have no linear layers) gets a ConvQuant beside it, except
// those whose module path contains a --not_quant_pattern substring. Conv + BN
// pairs are folded (train/models/layers.h).
#pragma once
#include <set>
#include <string>
#include <vector>

#include "compress/quant/plan.h"
#include "compress/quant/quant_options.h"

namespace torch::nn {
class Module;
}

namespace compress::quant {

struct QuantReport {
  std::vector<std::string> quantized;  // conv paths, e.g. backbone.blocks.4.expand.conv
  std::vector<std::string> skipped;    // matched a pattern
};

// True when any pattern is a substring of `path` (the --not_quant_pattern
// rule); the patterns that hit are added to `used` when given.
bool matches(const std::string& path, const std::vector<std::string>& patterns, std::set<std::string>* used = nullptr);

// Every quantizable conv path of the model, in module order.
std::vector<std::string> quantizable_convs(torch::nn::Module& model);

// Attaches the quantizers and makes the quantization plan (compress/quant/plan.h)
// by running the model once: a detector on a zero image; any other module
// (a single block in tests) through `plan_input`, or with the conservative plan
// (every output float) without one. A pattern matching no conv is an error
// naming it (a typo would otherwise silently quantize everything).
QuantReport apply_qat(torch::nn::Module& model, const QuantOptions& o);
QuantReport apply_qat(torch::nn::Module& model, const QuantOptions& o, const PlanInput& plan_input);

// True when apply_qat has run on the model.
bool is_quantized(torch::nn::Module& model);

// Freezes (or unfreezes) BN statistics of every folded conv + BN.
void set_bn_frozen(torch::nn::Module& model, bool frozen);

// Puts every activation observer in (or out of) calibration mode (PTQ).
void set_calibrating(torch::nn::Module& model, bool on);

// Runs one quantized conv (a path from QuantReport::quantized) in float, or
// quantized again, and re-plans the model. Its quantizer stays registered with
// its scales, so the toggle loses no calibration; a float conv runs exactly as
// one that --not_quant_pattern skipped (its producers' outputs turn float too).
// An unknown or never-quantized path is an error naming it.
void set_conv_float(torch::nn::Module& model, const std::string& conv_path, bool keep_float);

}  // namespace compress::quant
