// Runs a detector over a loader and scores it with the COCO evaluator.
#pragma once
#include <vector>

#include "train/data/coco_json.h"
#include "train/data/loader.h"
#include "train/eval/coco_eval.h"
#include "train/models/detector.h"

namespace compress {

class DistContext;

struct EvalRun {
  CocoEvalResult result;
  std::vector<CocoDetection> dets;  // COCO results format, original image coordinates
  std::vector<int64_t> image_ids;   // the images run, in loader order
  int64_t images = 0;
  double seconds = 0;
};

// Maps one image's detections from input pixels (in_h, in_w) to the original
// image (orig_h, orig_w) and to COCO category ids.
std::vector<CocoDetection> to_coco_detections(const ImageDetections& dets, int64_t image_id, double in_h, double in_w,
                                              double orig_h, double orig_w, const CocoDataset& ds);

// Evaluation mode and no-grad inside; the model's train/eval mode is restored.
// score = false leaves `result` empty (a shard, scored after gathering).
EvalRun run_evaluation(DetectorImpl& model, DataLoader& loader, const CocoDataset& ds, bool progress = true,
                       bool score = true);

// The union of ranks' shards: a rank's detections of an image that an earlier
// rank already ran are dropped (the loader wraps around so that every rank
// runs as many images), so each image counts once, as in one process.
std::vector<CocoDetection> merge_eval_shards(const std::vector<std::vector<int64_t>>& image_ids,
                                             const std::vector<std::vector<CocoDetection>>& dets);

// Sharded evaluation under data parallelism: every rank passes its shard's run
// (score = false); rank 0 gets every rank's images and detections, merges them
// and scores the union (statistics as one process on the whole set); the other
// ranks get their run back unscored. A collective: every rank must call it.
EvalRun gather_evaluation(EvalRun mine, DistContext& dist, const CocoDataset& ds);

class Config;

// One evaluation of `model` on cfg's EvalReader outside the Trainer (before
// pruning, a distillation teacher), on the training device; the model goes back
// where it was. With a process group (a collective: every rank calls it) each
// rank runs its shard and rank 0 gets the scored union; the other ranks get
// their unscored shard (result.stats empty).
EvalRun evaluate_on_reader(const Config& cfg, DetectorImpl& model, DistContext* dist, bool progress = true);

}  // namespace compress
