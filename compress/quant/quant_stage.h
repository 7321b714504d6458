// What the quant stage does to a model, shared by QAT and PTQ: the rules for
// where it may start, wrapping the model with its report, and the BN freeze
// QAT adds to each step.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "compress/quant/qat.h"
#include "compress/stage.h"

namespace compress::quant {

// A resumed checkpoint must be QAT; pretrain_weights must be float.
StageRules quant_stage_rules();

// Wraps the started model for QAT with `qo` (a resumed run keeps its recorded
// options), records them in start.transforms, logs which convs stay float and
// writes RUN_DIR/quant_layers.json (rank 0).
QuantReport wrap_for_qat(StageStart& start, QuantOptions qo, const std::string& run_dir);

// The Trainer hook that freezes BN statistics once, at step `freeze_bn_iter`
// (negative: never).
std::function<void(Trainer&)> freeze_bn_at(int64_t freeze_bn_iter);

}  // namespace compress::quant
