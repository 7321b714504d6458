#include "train/engine/evaluate.h"

#include <torch/torch.h>

#include <chrono>

#include "train/util/progress.h"

namespace compress {

std::vector<CocoDetection> to_coco_detections(const ImageDetections& dets, int64_t image_id, double in_h,
                                              double in_w, double orig_h, double orig_w, const CocoDataset& ds) {
  const double sx = orig_w / in_w, sy = orig_h / in_h;
  std::vector<CocoDetection> out;
  out.reserve(dets.size());
  for (const auto& d : dets) {
    CocoDetection c;
    c.image_id = image_id;
    c.category_id = ds.category_id(d.label);
    c.bbox[0] = d.x1 * sx;
    c.bbox[1] = d.y1 * sy;
    c.bbox[2] = (d.x2 - d.x1) * sx;
    c.bbox[3] = (d.y2 - d.y1) * sy;
    c.score = d.score;
    out.push_back(c);
  }
  return out;
}

EvalRun run_evaluation(DetectorImpl& model, DataLoader& loader, const CocoDataset& ds, bool progress) {
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  EvalRun run;
  const auto t0 = std::chrono::steady_clock::now();
  Progress prog("eval", static_cast<int64_t>(ds.size()), "img", progress ? 5.0 : 1e9);
  loader.start_epoch(0);
  const auto device = model.parameters().empty() ? torch::kCPU : model.parameters()[0].device();
  while (auto batch = loader.next()) {
    auto out = model.forward(batch->images.to(device));
    for (auto& t : out) t = t.cpu();  // decoding and NMS run on the CPU
    const auto dets = model.postprocess(out, batch->images.size(2), batch->images.size(3));
    for (int64_t i = 0; i < batch->size(); ++i) {
      const auto c = to_coco_detections(dets[i], batch->image_ids[i], batch->images.size(2), batch->images.size(3),
                                        batch->orig_sizes[i][0].item<double>(),
                                        batch->orig_sizes[i][1].item<double>(), ds);
      run.dets.insert(run.dets.end(), c.begin(), c.end());
    }
    run.images += batch->size();
    prog.update(run.images);
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  run.result = evaluate_coco(ds.file(), run.dets);
  if (was_training) model.train();
  return run;
}

}  // namespace compress
