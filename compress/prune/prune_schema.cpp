#include "compress/prune/prune_schema.h"

#include "compress/prune/criteria.h"
#include "compress/prune/pruner.h"

namespace compress::prune {

config::Field prune_schema() {
  using namespace config;
  return Section(
      {{"pruned_params", StrList({}, "conv weights to prune when --pruned_params is not given")},
       {"pruned_ratios", FloatList({}, "their ratios (one, or one per name)")},
       {"criterion", Str(criterion_names().front(), criterion_names())},
       {"group_score", Str(group_score_names().front(), group_score_names(),
                           "how a coupled group (an add, concat or depthwise conv joins producers) is scored: "
                           "named = the named conv's filters only (the reference's rule); sum = every "
                           "producer's score added per channel")},
       {"max_iters", Int(0, "fine-tuning steps after pruning; 0 = the recipe's max_iters").at_least(0)},
       {"base_lr", Float(0.0, "fine-tuning learning rate; 0 = the recipe's").at_least(0)},
       {"input_size", Int(0, "square input for the dependency trace and FLOPs; 0 = EvalReader's size").at_least(0)},
       {"round_to",
        Int(1, "kept channels rounded to a multiple of this (8 or 16 for mobile kernels); 1 = off").at_least(1)}},
      "channel pruning (`compress prune`, `compress sensitivity`)");
}

}  // namespace compress::prune
