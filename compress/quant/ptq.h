// Post-training quantization (`compress quant --post`): calibrate the
// activation scales of a QAT-wrapped model on a few batches, no training.
#pragma once
#include <cstdint>
#include <string>

#include "compress/stage.h"

namespace compress {
class Config;
struct DetectorImpl;
}  // namespace compress

namespace compress::quant {

// PTQ calibration: BN in eval mode (running statistics, folded as export folds
// them); the observers see `batches` TrainReader images through the
// EvalReader's transforms.
void calibrate(DetectorImpl& model, const Config& cfg, int64_t batches);

// Calibrates the started (wrapped) model on quant.calib_batches, evaluates it
// when `eval` and writes RUN_DIR/model_final.pt. Returns the AP (-1 without
// evaluation, and on ranks other than 0).
double run_ptq(const Config& cfg, StageStart& start, bool eval, const std::string& run_dir);

}  // namespace compress::quant
