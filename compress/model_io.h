// Building a detector for a checkpoint: the float model from the config, then
// whatever compress did to it (QAT wrappers, later pruned shapes) as recorded in
// the checkpoint, then its weights. eval, infer, export and resume use this.
#pragma once
#include <string>

#include "compress/model_transforms.h"
#include "train/models/detector.h"

namespace compress {

Detector load_detector(const Config& cfg, const std::string& weights);

// load_detector for weights that must not be quantized yet (float, possibly
// pruned): a QAT checkpoint is an error ending with `qat_hint`.
Detector load_float_detector(const Config& cfg, const std::string& weights, const std::string& qat_hint);

}  // namespace compress
