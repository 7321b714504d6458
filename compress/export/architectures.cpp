#include "compress/export/architectures.h"

#include "train/models/detector.h"
#include "train/util/error.h"

namespace compress {

// Each filled by its lowering file.
ArchitectureExport ssdlite_architecture();
ArchitectureExport yolov3_architecture();
ArchitectureExport cascade_rcnn_architecture();

const ArchitectureExport& architecture_export(const DetectorImpl& model) {
  static const std::vector<ArchitectureExport> table = {ssdlite_architecture(), yolov3_architecture(),
                                                        cascade_rcnn_architecture()};
  const std::string arch = model.arch();
  for (const auto& a : table)
    if (a.arch == arch) return a;
  std::string known;
  for (const auto& a : table) known += (known.empty() ? "" : ", ") + a.arch;
  fail("export: architecture '", arch, "' has no ONNX lowering (known: ", known, ")");
}

}  // namespace compress
