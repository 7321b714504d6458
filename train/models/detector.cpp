#include "train/models/detector.h"

#include "train/config/config.h"
#include "train/models/ssdlite.h"
#include "train/util/error.h"

namespace compress {

Detector build_detector(const Config& cfg) {
  const std::string arch = cfg.get<std::string>("architecture");
  if (arch == "SSD") {
    const std::string bb = cfg.get<std::string>("SSD.backbone");
    if (bb != "MobileNetV3") fail("SSD.backbone: unsupported '", bb, "' (valid: MobileNetV3)");
    return SSDLite(ssd_options_from_config(cfg)).ptr();
  }
  fail("architecture: unknown '", arch, "' (valid: SSD)");
}

}  // namespace compress
