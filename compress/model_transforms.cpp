#include "compress/model_transforms.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "compress/prune/pruner.h"
#include "compress/quant/qat.h"
#include "compress/quant/quant_json.h"
#include "train/engine/checkpoint.h"
#include "train/util/error.h"

namespace compress {

std::string ModelTransforms::to_json() const {
  if (empty()) return "";
  nlohmann::json j = nlohmann::json::object();
  if (prune) {
    j["prune"] = nlohmann::json::parse(prune->modules_json);
    if (!prune->criterion.empty()) j["prune"]["criterion"] = prune->criterion;
  }
  if (quant) j["quant"] = quant::options_to_json(*quant);
  return j.dump();
}

ModelTransforms ModelTransforms::from_json(const std::string& text, const std::string& source) {
  ModelTransforms t;
  if (text.empty()) return t;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail("checkpoint '", source, "': unreadable meta.transforms (", e.what(), ")");
  }
  if (!j.is_object()) fail("checkpoint '", source, "': meta.transforms is not a JSON object");
  for (const auto& [key, value] : j.items())
    if (key != "prune" && key != "quant")
      fail("checkpoint '", source, "': meta.transforms has an unknown transform '", key, "' (known: prune, quant)");
  if (j.contains("prune")) {
    const auto& p = j["prune"];
    if (!p.is_object() || !p.contains("modules") || !p["modules"].is_object())
      fail("checkpoint '", source, "': meta.transforms.prune has no 'modules' object");
    PruneShapes s;
    s.modules_json = nlohmann::json{{"modules", p["modules"]}}.dump();
    if (p.contains("criterion") && p["criterion"].is_string()) s.criterion = p["criterion"].get<std::string>();
    t.prune = s;
  }
  if (j.contains("quant")) {
    try {
      t.quant = quant::options_from_json(j["quant"]);
    } catch (const nlohmann::json::exception& e) {
      fail("checkpoint '", source, "': meta.transforms.quant: ", e.what());
    } catch (const Error& e) {
      fail("checkpoint '", source, "': meta.transforms.quant: ", e.what());
    }
  }
  return t;
}

ModelTransforms read_transforms(const std::string& path) {
  if (!std::filesystem::exists(path)) fail("checkpoint '", path, "' does not exist");
  return ModelTransforms::from_json(read_checkpoint_state(path).transforms, path);
}

void apply_transforms(Detector& model, const ModelTransforms& t, const std::string& source) {
  if (t.prune) prune::apply_shapes(*model, t.prune->modules_json, source);
  if (t.quant) quant::apply_qat(*model, *t.quant);
}

}  // namespace compress
