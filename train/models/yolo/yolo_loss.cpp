#include "train/models/yolo/yolo_loss.h"

#include <torch/torch.h>

#include <cmath>

#include "train/models/nms.h"

namespace compress {
namespace {

// IoU of two boxes that share a centre: only their shapes matter.
double shape_iou(double w1, double h1, double w2, double h2) {
  const double inter = std::min(w1, w2) * std::min(h1, h2);
  return inter / (w1 * h1 + w2 * h2 - inter);
}

torch::Tensor bce(const torch::Tensor& logits, const torch::Tensor& target) {
  return torch::binary_cross_entropy_with_logits(logits, target, {}, {}, at::Reduction::None);
}

}  // namespace

YoloTargets assign_yolo_targets(const torch::Tensor& gt_boxes, const torch::Tensor& gt_labels,
                                const torch::Tensor& num_boxes, int64_t scale_index, int64_t grid_h, int64_t grid_w,
                                int64_t in_h, int64_t in_w, const YoloLossOptions& o, const torch::Tensor& gt_scores) {
  TORCH_CHECK(scale_index >= 0 && scale_index < static_cast<int64_t>(o.masks.size()), "YOLOv3 loss: scale ",
              scale_index, " has no anchor mask");
  const auto& mask = o.masks[scale_index];
  const int64_t N = gt_boxes.size(0), A = static_cast<int64_t>(mask.size()), C = o.num_classes;
  const auto f = torch::TensorOptions().dtype(torch::kFloat32);
  YoloTargets t;
  for (auto* p : {&t.tx, &t.ty, &t.tw, &t.th, &t.tscale, &t.obj}) *p = torch::zeros({N, A, grid_h, grid_w}, f);
  t.tcls = torch::zeros({N, A, grid_h, grid_w, C}, f);
  const auto boxes = gt_boxes.to(torch::kCPU, torch::kFloat32).contiguous();
  const auto labels = gt_labels.to(torch::kCPU, torch::kLong).contiguous();
  const auto counts = num_boxes.to(torch::kCPU, torch::kLong).contiguous();
  const auto weights = gt_scores.defined() ? gt_scores.to(torch::kCPU, torch::kFloat32).contiguous()
                                           : torch::ones({N, gt_boxes.size(1)}, f);
  TORCH_CHECK(weights.sizes() == gt_labels.sizes(), "YOLOv3 loss: gt_scores ", weights.sizes(),
              " do not match gt_labels ", gt_labels.sizes());
  auto sc = weights.accessor<float, 2>();
  auto b = boxes.accessor<float, 3>();
  auto l = labels.accessor<int64_t, 2>();
  auto tx = t.tx.accessor<float, 4>(), ty = t.ty.accessor<float, 4>(), tw = t.tw.accessor<float, 4>(),
       th = t.th.accessor<float, 4>(), ts = t.tscale.accessor<float, 4>(), obj = t.obj.accessor<float, 4>();
  auto tc = t.tcls.accessor<float, 5>();
  const float pos = o.label_smooth ? 1.f - 1.f / C : 1.f, neg = o.label_smooth ? 1.f / C : 0.f;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t m = 0; m < counts[n].item<int64_t>(); ++m) {
      const int64_t label = l[n][m];
      const double w = b[n][m][2] - b[n][m][0], h = b[n][m][3] - b[n][m][1];
      if (label < 0 || w <= 0 || h <= 0 || sc[n][m] <= 0) continue;
      TORCH_CHECK(label < C, "YOLOv3 loss: label ", label, " out of range for ", C, " classes");
      int64_t best = 0;
      double best_iou = -1;
      for (size_t k = 0; k < o.anchors.size(); ++k) {
        const double iou = shape_iou(w, h, o.anchors[k].first, o.anchors[k].second);
        if (iou > best_iou) best_iou = iou, best = static_cast<int64_t>(k);
      }
      int64_t a = -1;
      for (int64_t k = 0; k < A; ++k)
        if (mask[k] == best) a = k;
      if (a < 0) continue;  // another scale's anchor fits better
      const double cx = (b[n][m][0] + b[n][m][2]) / 2 / in_w, cy = (b[n][m][1] + b[n][m][3]) / 2 / in_h;
      const int64_t gi = std::clamp<int64_t>(static_cast<int64_t>(cx * grid_w), 0, grid_w - 1);
      const int64_t gj = std::clamp<int64_t>(static_cast<int64_t>(cy * grid_h), 0, grid_h - 1);
      tx[n][a][gj][gi] = static_cast<float>(cx * grid_w - gi);
      ty[n][a][gj][gi] = static_cast<float>(cy * grid_h - gj);
      tw[n][a][gj][gi] = static_cast<float>(std::log(w / o.anchors[best].first));
      th[n][a][gj][gi] = static_cast<float>(std::log(h / o.anchors[best].second));
      ts[n][a][gj][gi] = static_cast<float>(2.0 - (w / in_w) * (h / in_h));
      obj[n][a][gj][gi] = sc[n][m];  // weighs x/y, w/h, objectness and class below
      for (int64_t c = 0; c < C; ++c) tc[n][a][gj][gi][c] = c == label ? pos : neg;
    }
  }
  return t;
}

torch::Tensor decode_yolo_boxes(const torch::Tensor& out, const std::vector<std::pair<double, double>>& anchors,
                                int64_t in_h, int64_t in_w) {
  const int64_t N = out.size(0), A = static_cast<int64_t>(anchors.size()), H = out.size(2), W = out.size(3);
  TORCH_CHECK(out.size(1) % A == 0, "YOLOv3: output channels ", out.size(1), " not a multiple of ", A, " anchors");
  const auto v = out.view({N, A, -1, H, W});
  const auto opts = out.options();
  const auto gx = torch::arange(W, opts).view({1, 1, 1, W});
  const auto gy = torch::arange(H, opts).view({1, 1, H, 1});
  std::vector<float> aw, ah;
  for (const auto& [w, h] : anchors) aw.push_back(static_cast<float>(w)), ah.push_back(static_cast<float>(h));
  const auto anchor_w = torch::tensor(aw).to(out.device()).view({1, A, 1, 1});
  const auto anchor_h = torch::tensor(ah).to(out.device()).view({1, A, 1, 1});
  const auto cx = (torch::sigmoid(v.select(2, 0)) + gx) * (static_cast<double>(in_w) / W);  // (N, A, H, W)
  const auto cy = (torch::sigmoid(v.select(2, 1)) + gy) * (static_cast<double>(in_h) / H);
  const auto bw = torch::exp(v.select(2, 2)) * anchor_w, bh = torch::exp(v.select(2, 3)) * anchor_h;
  return torch::stack({cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2}, -1);  // (N, A, H, W, 4)
}

YoloLoss yolov3_loss(const std::vector<torch::Tensor>& outputs, const torch::Tensor& gt_boxes,
                     const torch::Tensor& gt_labels, const torch::Tensor& num_boxes, int64_t in_h, int64_t in_w,
                     const YoloLossOptions& o, const torch::Tensor& gt_scores) {
  TORCH_CHECK(outputs.size() == o.masks.size(), "YOLOv3 loss: ", outputs.size(), " outputs for ", o.masks.size(),
              " anchor masks");
  const auto dev = outputs[0].device();
  const int64_t N = outputs[0].size(0), C = o.num_classes;
  const auto counts = num_boxes.to(torch::kCPU, torch::kLong);
  YoloLoss loss;
  for (auto* p : {&loss.xy, &loss.wh, &loss.obj, &loss.cls}) *p = torch::zeros({}, outputs[0].options());
  for (size_t s = 0; s < outputs.size(); ++s) {
    const auto& out = outputs[s];
    const int64_t A = static_cast<int64_t>(o.masks[s].size()), H = out.size(2), W = out.size(3);
    TORCH_CHECK(out.size(1) == A * (5 + C), "YOLOv3 loss: scale ", s, " has ", out.size(1), " channels, expected ", A,
                " x (5 + ", C, ")");
    auto t =
        assign_yolo_targets(gt_boxes, gt_labels, num_boxes, static_cast<int64_t>(s), H, W, in_h, in_w, o, gt_scores);
    for (auto* p : {&t.tx, &t.ty, &t.tw, &t.th, &t.tscale, &t.obj, &t.tcls}) *p = p->to(dev);
    const auto v = out.view({N, A, 5 + C, H, W});

    // Ignore rule: predictions overlapping any GT by more than ignore_thresh are
    // not pushed towards background. No gradient flows through this decision.
    torch::Tensor ignore = torch::zeros({N, A, H, W}, torch::TensorOptions().dtype(torch::kBool).device(dev));
    {
      torch::NoGradGuard no_grad;
      std::vector<std::pair<double, double>> anchors;
      for (int64_t k : o.masks[s]) anchors.push_back(o.anchors[k]);
      const auto pred = decode_yolo_boxes(out.detach(), anchors, in_h, in_w).to(torch::kCPU);
      for (int64_t n = 0; n < N; ++n) {
        const int64_t G = counts[n].item<int64_t>();
        if (G == 0) continue;
        const auto gt = gt_boxes[n].slice(0, 0, G).to(torch::kCPU, torch::kFloat32);
        const auto best = std::get<0>(box_iou(pred[n].reshape({-1, 4}), gt).max(1));  // (A*H*W)
        ignore[n] = (best > o.ignore_thresh).view({A, H, W}).to(dev);
      }
    }
    const auto posf = t.obj;  // (N, A, H, W): the GT score at positives, 0 elsewhere
    const auto negf = (t.obj == 0).logical_and(ignore.logical_not()).to(out.scalar_type());
    const auto wscale = t.tscale * posf;
    loss.xy = loss.xy + ((bce(v.select(2, 0), t.tx) + bce(v.select(2, 1), t.ty)) * wscale).sum();
    loss.wh = loss.wh + (((v.select(2, 2) - t.tw).abs() + (v.select(2, 3) - t.th).abs()) * wscale).sum();
    const auto o_logit = v.select(2, 4);
    loss.obj = loss.obj +
               (bce(o_logit, torch::ones_like(o_logit)) * posf + bce(o_logit, torch::zeros_like(o_logit)) * negf).sum();
    const auto cls = v.slice(2, 5).permute({0, 1, 3, 4, 2});  // (N, A, H, W, C)
    loss.cls = loss.cls + (bce(cls, t.tcls) * posf.unsqueeze(-1)).sum();
  }
  for (auto* p : {&loss.xy, &loss.wh, &loss.obj, &loss.cls}) *p = *p / static_cast<double>(N);
  return loss;
}

}  // namespace compress
