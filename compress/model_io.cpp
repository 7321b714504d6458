#include "compress/model_io.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "compress/prune/pruner.h"
#include "compress/quant/qat.h"
#include "compress/quant/quant_json.h"
#include "train/config/config.h"
#include "train/engine/checkpoint.h"
#include "train/util/error.h"

namespace compress {

void apply_transforms(Detector& model, const std::string& transforms_json, const std::string& source) {
  if (transforms_json.empty()) return;
  nlohmann::json t;
  try {
    t = nlohmann::json::parse(transforms_json);
  } catch (const std::exception& e) {
    fail("checkpoint '", source, "': unreadable meta.transforms (", e.what(), ")");
  }
  // Pruned shapes first: QAT's per-channel buffers are sized from them.
  if (t.contains("prune")) prune::apply_shapes(*model, t["prune"].dump(), source);
  if (t.contains("quant")) quant::apply_qat(*model, quant::options_from_json(t["quant"]));
}

Detector load_detector(const Config& cfg, const std::string& weights) {
  Detector model = build_detector(cfg);
  const TrainState s = read_checkpoint_state(weights);
  // (A pretrained backbone gets load_weights' own message, which says what to do with it.)
  if (!s.arch.empty() && s.arch != model->arch() && s.arch != kBackboneClassifierArch)
    fail("checkpoint '", weights, "' is a ", s.arch, " model but the config builds ", model->arch());
  apply_transforms(model, s.transforms, weights);
  load_weights(weights, *model);
  return model;
}

Detector load_float_detector(const Config& cfg, const std::string& weights, const std::string& qat_hint) {
  if (!std::filesystem::exists(weights)) fail("weights file '", weights, "' does not exist");
  const TrainState s = read_checkpoint_state(weights);
  if (s.transforms.find("\"quant\"") != std::string::npos)
    fail("checkpoint '", weights, "' is a QAT checkpoint; ", qat_hint);
  return load_detector(cfg, weights);
}

}  // namespace compress
