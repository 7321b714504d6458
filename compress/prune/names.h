// Turning the CLI's --pruned_params / --pruned_ratios into conv paths and
// ratios. Torch-free: it works on the model's list of conv weight names.
#pragma once
#include <string>
#include <vector>

#include "compress/prune/pruner.h"

namespace compress::prune {

// "a,b , c" -> {"a", "b", "c"}; empty items are an error naming `what`.
std::vector<std::string> split_list(const std::string& text, const std::string& what);

// Ratios parsed from text; each must be a number in [0, 1).
// `what` names the flag in errors (usage errors: exit 2).
std::vector<double> parse_ratios(const std::vector<std::string>& items, const std::string& what = "--pruned_ratios");

// Names -> specs. Each name is a conv weight as the reference spells it
// (`yolo_block.0.0.0.conv.weights`), as we do (`.conv.weight`), or a glob with
// `*`. `ratios` has one entry per name, or one for all. `conv_weights` lists the
// model's conv weights (`<conv path>.weight`), in model order. Errors name the
// closest real parameters.
std::vector<PruneSpec> resolve_specs(const std::vector<std::string>& names, const std::vector<double>& ratios,
                                     const std::vector<std::string>& conv_weights);

// '*' matches any run of characters (dots included).
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace compress::prune
