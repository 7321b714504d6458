#include "train/models/detector.h"

#include "train/config/config.h"
#include "train/models/cascade_rcnn.h"
#include "train/models/ssdlite.h"
#include "train/models/weight_init.h"
#include "train/models/yolov3.h"
#include "train/util/error.h"

namespace compress {

namespace {
Detector build_architecture(const Config& cfg) {
  const std::string arch = cfg.get<std::string>("architecture");
  if (arch == "SSD") {
    const std::string bb = cfg.get<std::string>("SSD.backbone");
    if (bb != "MobileNetV3") fail("SSD.backbone: unsupported '", bb, "' (valid: MobileNetV3)");
    return SSDLite(ssd_options_from_config(cfg)).ptr();
  }
  if (arch == "YOLOv3") {
    const auto o = yolov3_options_from_config(cfg);
    if (o.backbone == "MobileNetV3") {
      // The reference's feature_maps: YOLOv3 uses the last three, which must be
      // stride 8, stride 16 and conv_last ([..., 3, 4, 6]).
      const auto fm = cfg.get<std::vector<int64_t>>("MobileNetV3.feature_maps");
      if (fm.size() < 3 || fm[fm.size() - 3] != 3 || fm[fm.size() - 2] != 4 || fm.back() != 6)
        fail("MobileNetV3.feature_maps: YOLOv3 needs the last three to be [3, 4, 6] (strides 8, 16, 32)");
    }
    return YOLOv3(o).ptr();
  }
  if (arch == "CascadeRCNN") return CascadeRCNN(cascade_rcnn_options_from_config(cfg)).ptr();
  fail("architecture: unknown '", arch, "' (valid: SSD, YOLOv3, CascadeRCNN)");
}
}  // namespace

Detector build_detector(const Config& cfg) {
  Detector d = build_architecture(cfg);
  apply_init(*d, d->arch(), init_options_from_config(cfg));
  return d;
}

}  // namespace compress
