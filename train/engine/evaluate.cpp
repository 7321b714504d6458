#include "train/engine/evaluate.h"

#include <torch/torch.h>

#include <chrono>
#include <limits>
#include <set>

#include "train/config/config.h"
#include "train/data/reader.h"
#include "train/engine/device.h"
#include "train/engine/distributed.h"
#include "train/util/progress.h"

namespace compress {

std::vector<CocoDetection> to_coco_detections(const ImageDetections& dets, int64_t image_id, double in_h, double in_w,
                                              double orig_h, double orig_w, const CocoDataset& ds) {
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

EvalRun run_evaluation(DetectorImpl& model, DataLoader& loader, const CocoDataset& ds, bool progress, bool score) {
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  EvalRun run;
  const auto t0 = std::chrono::steady_clock::now();
  // This rank's share of the set (all of it in one process).
  Progress prog("eval", static_cast<int64_t>(loader.epoch_order(0).size()), "img",
                progress ? 5.0 : std::numeric_limits<double>::infinity());
  loader.start_epoch(0);
  const auto device = model.parameters().empty() ? torch::kCPU : model.parameters()[0].device();
  while (auto batch = loader.next()) {
    auto out = model.forward(batch->images.to(device));
    for (auto& t : out) t = t.cpu();  // decoding and NMS run on the CPU
    const auto dets = model.postprocess(out, batch->images.size(2), batch->images.size(3));
    for (int64_t i = 0; i < batch->size(); ++i) {
      const auto c =
          to_coco_detections(dets[i], batch->image_ids[i], batch->images.size(2), batch->images.size(3),
                             batch->orig_sizes[i][0].item<double>(), batch->orig_sizes[i][1].item<double>(), ds);
      run.dets.insert(run.dets.end(), c.begin(), c.end());
      run.image_ids.push_back(batch->image_ids[i]);
    }
    run.images += batch->size();
    prog.update(run.images);
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (score) run.result = evaluate_coco(ds.file(), run.dets);
  if (was_training) model.train();
  return run;
}

std::vector<CocoDetection> merge_eval_shards(const std::vector<std::vector<int64_t>>& image_ids,
                                             const std::vector<std::vector<CocoDetection>>& dets) {
  TORCH_CHECK(image_ids.size() == dets.size(), "merge_eval_shards: ", image_ids.size(), " image lists but ",
              dets.size(), " detection lists");
  std::set<int64_t> seen;
  std::vector<CocoDetection> merged;
  for (size_t r = 0; r < dets.size(); ++r) {
    std::set<int64_t> mine;
    for (const int64_t id : image_ids[r])
      if (!seen.count(id)) mine.insert(id);
    for (const auto& d : dets[r])
      if (mine.count(d.image_id)) merged.push_back(d);
    seen.insert(mine.begin(), mine.end());
  }
  return merged;
}

EvalRun gather_evaluation(EvalRun mine, DistContext& dist, const CocoDataset& ds) {
  // Detections travel as float64 rows (image, category, x, y, w, h, score):
  // exact for every field, so rank 0 scores the very numbers each rank made.
  auto ids = torch::empty({static_cast<int64_t>(mine.image_ids.size()), 1}, torch::kFloat64);
  for (size_t i = 0; i < mine.image_ids.size(); ++i) ids[i][0] = static_cast<double>(mine.image_ids[i]);
  auto rows = torch::empty({static_cast<int64_t>(mine.dets.size()), 7}, torch::kFloat64);
  auto acc = rows.accessor<double, 2>();
  for (size_t i = 0; i < mine.dets.size(); ++i) {
    const auto& d = mine.dets[i];
    const double v[7] = {static_cast<double>(d.image_id),
                         static_cast<double>(d.category_id),
                         d.bbox[0],
                         d.bbox[1],
                         d.bbox[2],
                         d.bbox[3],
                         d.score};
    for (int k = 0; k < 7; ++k) acc[i][k] = v[k];
  }
  const auto all_ids = dist.all_gather_rows(ids);
  const auto all_rows = dist.all_gather_rows(rows);
  if (!dist.is_main()) return mine;
  std::vector<std::vector<int64_t>> id_lists;
  std::vector<std::vector<CocoDetection>> det_lists;
  for (size_t r = 0; r < all_rows.size(); ++r) {
    std::vector<int64_t> il;
    for (int64_t i = 0; i < all_ids[r].size(0); ++i)
      il.push_back(static_cast<int64_t>(all_ids[r][i][0].item<double>()));
    std::vector<CocoDetection> dl;
    const auto a = all_rows[r].contiguous();
    const auto ra = a.accessor<double, 2>();
    for (int64_t i = 0; i < a.size(0); ++i) {
      CocoDetection d;
      d.image_id = static_cast<int64_t>(ra[i][0]);
      d.category_id = static_cast<int64_t>(ra[i][1]);
      for (int k = 0; k < 4; ++k) d.bbox[k] = ra[i][2 + k];
      d.score = ra[i][6];
      dl.push_back(d);
    }
    id_lists.push_back(std::move(il));
    det_lists.push_back(std::move(dl));
  }
  EvalRun run;
  run.dets = merge_eval_shards(id_lists, det_lists);
  std::set<int64_t> images;
  for (const auto& il : id_lists) images.insert(il.begin(), il.end());
  run.image_ids.assign(images.begin(), images.end());
  run.images = static_cast<int64_t>(images.size());
  run.seconds = mine.seconds;
  run.result = evaluate_coco(ds.file(), run.dets);
  return run;
}

EvalRun evaluate_on_reader(const Config& cfg, DetectorImpl& model, DistContext* dist, bool progress) {
  const int rank = dist ? dist->rank() : 0, world = dist ? dist->world_size() : 1;
  const auto ds = load_dataset(cfg, "EvalReader");
  const auto dev = training_device(cfg, dist_env_from_environment().local_rank);
  const auto params = model.parameters();
  const auto home = params.empty() ? dev : params[0].device();
  model.to(dev);
  auto loader = make_loader(cfg, "EvalReader", ds, rank, world);
  EvalRun run = run_evaluation(model, *loader, *ds, progress && rank == 0, /*score=*/!dist);
  if (dist) run = gather_evaluation(std::move(run), *dist, *ds);
  model.to(home);
  return run;
}

}  // namespace compress
