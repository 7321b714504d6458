#include "compress/model_io.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "compress/model_transforms.h"
#include "train/config/config.h"
#include "train/engine/checkpoint.h"
#include "train/util/error.h"

namespace compress {

Detector load_detector(const Config& cfg, const std::string& weights) {
  Detector model = build_detector(cfg);
  const TrainState s = read_checkpoint_state(weights);
  // (A pretrained backbone gets load_weights' own message, which says what to do with it.)
  if (!s.arch.empty() && s.arch != model->arch() && s.arch != kBackboneClassifierArch)
    fail("checkpoint '", weights, "' is a ", s.arch, " model but the config builds ", model->arch());
  apply_transforms(model, ModelTransforms::from_json(s.transforms, weights), weights);
  load_weights(weights, *model);
  return model;
}

Detector load_float_detector(const Config& cfg, const std::string& weights, const std::string& qat_hint) {
  if (!std::filesystem::exists(weights)) fail("weights file '", weights, "' does not exist");
  if (read_transforms(weights).quant) fail("checkpoint '", weights, "' is a QAT checkpoint; ", qat_hint);
  return load_detector(cfg, weights);
}

}  // namespace compress
