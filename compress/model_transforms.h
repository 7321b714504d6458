// What compress did to a checkpoint's model, as one typed record read once:
// the pruned shapes, then the QAT settings. A checkpoint stores it as the JSON
// text of meta.transforms ({"prune": {...}, "quant": {...}}); train/ carries
// that text without reading it.
#pragma once
#include <optional>
#include <string>

#include "compress/quant/quant_options.h"
#include "train/models/detector.h"

namespace compress {

// The conv and BN shapes that differ from the config's model
// (prune::shapes_json's {"modules": {...}} text) and the criterion that chose them.
struct PruneShapes {
  std::string modules_json;
  std::string criterion;
};

struct ModelTransforms {
  std::optional<PruneShapes> prune;
  std::optional<quant::QuantOptions> quant;

  bool empty() const { return !prune && !quant; }
  // meta.transforms text; "" when empty.
  std::string to_json() const;
  // `source` names the checkpoint in errors (unreadable JSON, a bad quant record).
  static ModelTransforms from_json(const std::string& text, const std::string& source);
};

// The record of the checkpoint at `path` (which must exist).
ModelTransforms read_transforms(const std::string& path);

// Rebuilds the recorded transforms on a freshly built model: the pruned shapes
// first (QAT's per-channel buffers are sized from them), then the QAT wrappers.
// Values come from the checkpoint afterwards.
void apply_transforms(Detector& model, const ModelTransforms& t, const std::string& source);

}  // namespace compress
