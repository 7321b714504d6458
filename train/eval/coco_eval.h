// COCO box evaluation, a faithful port of pycocotools' COCOeval (iouType bbox):
// IoU thresholds .50:.05:.95, 101-point interpolated precision, area ranges from
// the GT `area` field, maxDets 1/10/100, crowd GT matched as ignore, per category.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <array>
#include <string>
#include <vector>

#include "train/data/coco_json.h"

namespace compress {

struct CocoStats {
  // AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl (-1 where undefined).
  std::array<double, 12> values{};
  static const std::array<const char*, 12>& names();

  double ap() const { return values[0]; }
  double ap50() const { return values[1]; }
  nlohmann::json to_json() const;
  std::string table() const;  // the familiar 12-line summary
};

// Per-category AP (IoU .50:.95) and AP50, all areas, 100 dets, -1 where the
// category has no GT; categories sorted by id. The mean of the valid
// per-category APs is stats.ap().
struct CocoEvalResult {
  CocoStats stats;
  std::vector<int64_t> category_ids;
  std::vector<std::string> category_names;
  std::vector<double> per_category_ap, per_category_ap50;
  std::vector<int64_t> per_category_gt;  // non-crowd GT boxes

  // PaddleDetection's `classwise` table: one row per category (AP, AP50, GT
  // boxes), then the mean.
  std::string classwise_table() const;
  // [{id, name, AP, AP50, gt}, ...]
  nlohmann::json classwise_json() const;
};

// IoU of two x, y, w, h boxes as pycocotools computes it; against a crowd GT `g`
// the union is the detection's area alone.
double coco_box_iou(const double* d, const double* g, bool crowd);

// `dets` may only name image ids present in `gt` (as pycocotools asserts).
CocoEvalResult evaluate_coco(const CocoFile& gt, const std::vector<CocoDetection>& dets);

}  // namespace compress
