#include "compress/export/verify.h"

#include "compress/export/onednn_runner.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include <spdlog/spdlog.h>

#include "compress/export/architectures.h"
#include "compress/export/onnx_detections.h"
#include "compress/export/ort_runner.h"
#include "compress/quant/conv_quant.h"
#include "compress/quant/qat.h"
#include "train/config/config.h"
#include "train/data/reader.h"
#include "train/engine/evaluate.h"
#include "train/eval/coco_eval.h"
#include "train/util/error.h"

namespace compress {
namespace {
constexpr int kSelfDraws = 8;  // LibTorch-vs-itself AP draws for int8 models
}  // namespace

std::string VerifyReport::table() const {
  std::ostringstream os;
  os << "| output | max abs diff | max abs output | within one int8 step | LibTorch vs itself (weights x (1 + 1e-6 "
        "noise)) |\n|---|---|---|---|---|\n";
  for (size_t i = 0; i < outputs.size(); ++i)
    os << "| " << outputs[i] << " | " << max_abs_diff[i] << " | " << max_abs_ref[i] << " | " << within_one_step[i] * 100
       << "% | "
       << (i < exact.size() && exact[i] ? std::string(quantized ? "- (LibTorch on ORT's inputs: float)" : "-")
                                        : std::to_string(self_within[i] * 100) + "%")
       << " |\n";
  os << "\nAP on " << images << " EvalReader images: LibTorch " << ap_torch * 100 << ", " << engine << " "
     << ap_ort * 100 << " (difference " << std::abs(ap_ort - ap_torch) * 100 << " points)";
  if (score_eps > 0)
    os << "; LibTorch's AP with each score moved by up to " << score_eps << " (the engines' difference) spans "
       << ap_lo * 100 << " to " << ap_hi * 100;
  if (!ap_self.empty()) {
    double lo = ap_self[0], hi = ap_self[0];
    for (double a : ap_self) lo = std::min(lo, a), hi = std::max(hi, a);
    os << "; LibTorch's own AP with its weights x (1 + 1e-6 noise), " << ap_self.size() << " draws: " << lo * 100
       << " to " << hi * 100
       << (int8_ap_agrees(ap_ort, ap_torch, ap_self) ? " (" + engine + "'s is a plausible draw)"
                                                     : " (" + engine + "'s is not a plausible draw)");
  }
  os << "\n";
  if (quantized) os << "\n" << layers.table();
  return os.str();
}

bool int8_ap_agrees(double ap_ort, double ap_torch, const std::vector<double>& ap_self) {
  std::vector<double> all{ap_torch};
  all.insert(all.end(), ap_self.begin(), ap_self.end());
  double mean = 0, var = 0;
  for (double a : all) mean += a / all.size();
  for (double a : all) var += (a - mean) * (a - mean) / std::max<size_t>(1, all.size() - 1);
  const double sd = std::sqrt(var);
  return std::abs(ap_ort - ap_torch) <= 0.003 + 1e-9 || std::abs(ap_ort - mean) <= 4 * sd + 1e-9;
}

std::pair<double, double> ap_bracket(const CocoFile& gt, const std::vector<CocoDetection>& dets, double eps) {
  std::map<std::pair<int64_t, int64_t>, std::vector<const CocoAnnotation*>> by_image_class;
  for (const auto& a : gt.annotations) by_image_class[{a.image_id, a.category_id}].push_back(&a);
  std::vector<CocoDetection> up = dets, down = dets;
  for (size_t i = 0; i < dets.size(); ++i) {
    bool hit = false;
    const auto it = by_image_class.find({dets[i].image_id, dets[i].category_id});
    if (it != by_image_class.end())
      for (const auto* a : it->second) hit = hit || coco_box_iou(dets[i].bbox, a->bbox, a->iscrowd) >= 0.5;
    up[i].score += hit ? eps : -eps;
    down[i].score -= hit ? eps : -eps;
  }
  const double lo = evaluate_coco(gt, down).stats.ap(), hi = evaluate_coco(gt, up).stats.ap();
  return {std::min(lo, hi), std::max(lo, hi)};
}

namespace {
// Whether the model's quantized convs put weights on the reduced [-63, 63] grid.
bool quant_reduce_range(DetectorImpl& model) {
  for (const auto& m : model.modules(/*include_self=*/false))
    if (const auto* q = dynamic_cast<const quant::ConvQuantImpl*>(m.get())) return q->opt.reduce_range;
  return false;
}
}  // namespace

VerifyReport verify_export(DetectorImpl& model, const std::string& onnx_path, const Config& cfg, int64_t max_images,
                           int64_t h, int64_t w, const std::string& runtime) {
  torch::NoGradGuard no_grad;
  model.eval();
  VerifyReport r;
  r.quantized = quant::is_quantized(model);
  auto ds = load_dataset(cfg, "EvalReader");
  auto loader = make_loader(cfg, "EvalReader", ds);
  loader->start_epoch(0);
  // One batch's detections (input pixels) as COCO results on the original images.
  auto append_coco = [&](std::vector<CocoDetection>& out, const std::vector<ImageDetections>& d, const Batch& batch) {
    const int64_t H = batch.images.size(2), W = batch.images.size(3);
    for (int64_t i = 0; i < batch.size(); ++i) {
      auto c = to_coco_detections(d[i], batch.image_ids[i], H, W, batch.orig_sizes[i][0].item<double>(),
                                  batch.orig_sizes[i][1].item<double>(), *ds);
      out.insert(out.end(), c.begin(), c.end());
    }
  };
  std::vector<Batch> batches;
  std::vector<torch::Tensor> images;
  const ArchitectureExport& arch = architecture_export(model);
  for (int64_t n = 0; n < max_images;) {
    auto b = loader->next();
    if (!b) break;
    n += b->size();
    if (h > 0 && w > 0 && (b->images.size(2) != h || b->images.size(3) != w))
      b->images = torch::upsample_bilinear2d(b->images, {h, w}, /*align_corners=*/false);
    // Cascade R-CNN exports with batch 1.
    for (auto& one : arch.batch_one ? split_batch(*b) : std::vector<Batch>{std::move(*b)}) {
      images.push_back(one.images);
      batches.push_back(std::move(one));
    }
  }
  if (batches.empty()) fail("export --verify: EvalReader gives no images");
  // Outputs are compared element-wise on ONNX Runtime's reference kernels; AP
  // is checked as deployed (level all). Layer by layer, both levels.
  if (r.quantized && !cpu_has_vnni() && !quant_reduce_range(model))
    spdlog::warn(
        "export --verify: this CPU has no VNNI, so ONNX Runtime's default int8 kernels sum u8 x s8 pairs into "
        "saturating int16 and full-range weights can come out many steps off; the check runs ORT with "
        "session.x64quantprecision=1 (exact here). Deploy with that session option on such CPUs, or train with "
        "quant.reduce_range=true");
  const bool onednn = runtime == "onednn";
  if (onednn) r.engine = "oneDNN runtime";
  const OrtRun ort = onednn ? run_onednn(onnx_path, images)
                            : run_onnxruntime(onnx_path, images, 1, 0, 0, r.quantized ? "disabled" : "all");
  const OrtRun deployed = onednn ? ort : r.quantized ? run_onnxruntime(onnx_path, images) : OrtRun{};
  r.outputs = ort.names;
  std::vector<CocoDetection> dets_torch, dets_ort;
  std::set<int64_t> ids;
  r.max_abs_diff.assign(r.outputs.size(), 0);
  r.max_abs_ref.assign(r.outputs.size(), 0);
  std::vector<int64_t> close(r.outputs.size(), 0), total(r.outputs.size(), 0), self_close(r.outputs.size(), 0);
  size_t n_raw_outputs = 0;
  torch::manual_seed(0);
  for (size_t b = 0; b < batches.size(); ++b) {
    const auto& batch = batches[b];
    auto ref = model.forward(batch.images);
    const size_t n_raw = ref.size();  // the raw head outputs; decoded ones may follow
    n_raw_outputs = n_raw;
    // A file exported from another config (other FPN levels, another detector)
    // is named as such, before any output is compared.
    check_onnx_outputs(model, n_raw, ort.outputs[b].size(), onnx_path, "export --verify");
    // The decoded outputs that follow the raw ones, as LibTorch computes them.
    if (ort.outputs[b].size() > n_raw) {
      const int64_t H = batch.images.size(2), W = batch.images.size(3);
      for (auto& t : arch.reference_decoded(model, ref, ort.outputs[b], H, W)) ref.push_back(std::move(t));
      if (arch.decoded_on_runtime_inputs) {  // LibTorch on the runtime's inputs: exact
        r.exact.assign(ref.size(), !r.quantized);
        for (size_t i = n_raw; i < ref.size(); ++i) r.exact[i] = true;
      }
    }
    // The raw head outputs come first in both, in the same order.
    std::vector<torch::Tensor> perturbed;
    for (size_t i = 0; i < ref.size() && i < ort.outputs[b].size(); ++i) {
      const auto a = ref[i].to(torch::kFloat32), o = ort.outputs[b][i];
      if (a.sizes() != o.sizes())
        fail("export --verify: output '", r.outputs[i], "' has shape ", o.sizes(), " in ONNX Runtime but ", a.sizes(),
             " in LibTorch");
      const auto d = (a - o).abs();
      r.max_abs_diff[i] = std::max(r.max_abs_diff[i], d.max().item<double>());
      r.max_abs_ref[i] = std::max(r.max_abs_ref[i], a.abs().max().item<double>());
      const double step = std::max(a.abs().max().item<double>() / 127, 1e-12);
      close[i] += (d <= step * (1 + 1e-6)).sum().item<int64_t>();
      if (r.quantized && i == 0) {
        // Every weight moved by 1e-6 (relative), as another engine's summation order
        // moves each conv's result; restored right after.
        std::vector<torch::Tensor> saved;
        for (auto& p : model.parameters()) saved.push_back(p.clone()), p.mul_(1 + 1e-6 * torch::randn_like(p));
        perturbed = model.forward(batch.images);
        auto params = model.parameters();
        for (size_t k = 0; k < params.size(); ++k) params[k].copy_(saved[k]);
      }
      if (r.quantized && i < perturbed.size())
        self_close[i] += ((a - perturbed[i].to(torch::kFloat32)).abs() <= step * (1 + 1e-6)).sum().item<int64_t>();
      total[i] += d.numel();
    }
    const int64_t H = batch.images.size(2), W = batch.images.size(3);
    const std::vector<torch::Tensor> ref_raw(ref.begin(), ref.begin() + n_raw);
    const auto dt = model.postprocess(ref_raw, H, W);
    // ONNX Runtime's outputs as deployed, decoded as LibTorch decodes its own.
    const auto doo = onnx_detections(model, r.quantized ? deployed.outputs[b] : ort.outputs[b], n_raw, H, W);
    append_coco(dets_torch, dt, batch);
    append_coco(dets_ort, doo, batch);
    ids.insert(batch.image_ids.begin(), batch.image_ids.end());
    r.images += batch.size();
  }
  for (size_t i = 0; i < r.outputs.size(); ++i) {
    r.within_one_step.push_back(total[i] ? static_cast<double>(close[i]) / total[i] : 1.0);
    r.self_within.push_back(total[i] && r.quantized ? static_cast<double>(self_close[i]) / total[i] : 1.0);
  }
  // The evaluator on just the images that were run.
  CocoFile gt = ds->file();
  gt.images.erase(
      std::remove_if(gt.images.begin(), gt.images.end(), [&](const CocoImage& im) { return !ids.count(im.id); }),
      gt.images.end());
  gt.annotations.erase(std::remove_if(gt.annotations.begin(), gt.annotations.end(),
                                      [&](const CocoAnnotation& a) { return !ids.count(a.image_id); }),
                       gt.annotations.end());
  r.ap_torch = evaluate_coco(gt, dets_torch).stats.ap();
  r.ap_ort = evaluate_coco(gt, dets_ort).stats.ap();
  if (r.quantized) {
    // How far LibTorch's own AP moves when its weights move by 1e-6 (relative):
    // int8 roundings flip, whole boxes move, and on a few dozen images AP moves
    // by tenths of a point. Several draws, each one perturbation of every weight.
    for (int k = 0; k < kSelfDraws; ++k) {
      std::vector<torch::Tensor> saved;
      for (auto& p : model.parameters()) saved.push_back(p.clone()), p.mul_(1 + 1e-6 * torch::randn_like(p));
      std::vector<CocoDetection> dets;
      for (const auto& batch : batches) {
        auto out = model.forward(batch.images);
        out.resize(n_raw_outputs);
        append_coco(dets, model.postprocess(out, batch.images.size(2), batch.images.size(3)), batch);
      }
      auto params = model.parameters();
      for (size_t i = 0; i < params.size(); ++i) params[i].copy_(saved[i]);
      r.ap_self.push_back(evaluate_coco(gt, dets).stats.ap());
    }
  }
  if (!r.quantized) {
    // A logit moved by d moves a softmax or sigmoid score by at most d (twice
    // that for YOLO's objectness x class product); the raw outputs' worst
    // difference bounds every score's.
    for (size_t i = 0; i < n_raw_outputs; ++i) r.score_eps = std::max(r.score_eps, 2 * r.max_abs_diff[i]);
  }
  std::tie(r.ap_lo, r.ap_hi) = ap_bracket(gt, dets_torch, r.score_eps);
  bool outputs_ok = true;
  r.exact.resize(r.outputs.size(), !r.quantized);
  for (size_t i = 0; i < r.outputs.size(); ++i)
    outputs_ok = outputs_ok && (r.exact[i] ? r.max_abs_diff[i] <= 1e-4 * std::max(1.0, r.max_abs_ref[i])
                                           : r.within_one_step[i] >= std::min(0.999, r.self_within[i] - 0.10));
  r.ok = outputs_ok && (r.quantized ? int8_ap_agrees(r.ap_ort, r.ap_torch, r.ap_self)
                                    : r.ap_ort >= r.ap_lo - 0.003 - 1e-9 && r.ap_ort <= r.ap_hi + 0.003 + 1e-9);
  if (r.quantized) {
    r.layers = verify_layers(model, onnx_path, images, 0.9999, runtime);
    r.ok = r.ok && r.layers.ok;
  }
  return r;
}

}  // namespace compress
