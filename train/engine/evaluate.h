// Runs a detector over a loader and scores it with the COCO evaluator.
#pragma once
#include <vector>

#include "train/data/coco_json.h"
#include "train/data/loader.h"
#include "train/eval/coco_eval.h"
#include "train/models/detector.h"

namespace compress {

struct EvalRun {
  CocoEvalResult result;
  std::vector<CocoDetection> dets;  // COCO results format, original image coordinates
  int64_t images = 0;
  double seconds = 0;
};

// Maps one image's detections from input pixels (in_h, in_w) to the original
// image (orig_h, orig_w) and to COCO category ids.
std::vector<CocoDetection> to_coco_detections(const ImageDetections& dets, int64_t image_id, double in_h,
                                              double in_w, double orig_h, double orig_w, const CocoDataset& ds);

// Evaluation mode and no-grad inside; the model's train/eval mode is restored.
EvalRun run_evaluation(DetectorImpl& model, DataLoader& loader, const CocoDataset& ds, bool progress = true);

}  // namespace compress
