#include "train/models/ssd/multibox_loss.h"

#include <torch/torch.h>

#include "train/models/nms.h"
#include "train/models/ssd/box_coder.h"

namespace compress {

torch::Tensor match_priors(const torch::Tensor& gt, const torch::Tensor& priors, double overlap_threshold) {
  const int64_t A = priors.size(0), G = gt.size(0);
  auto match = torch::full({A}, -1, torch::kInt64);
  if (G == 0) return match;
  const auto iou = box_iou(gt, priors);  // (G, A)
  auto work = iou.clone();
  auto* m = match.data_ptr<int64_t>();
  constexpr float kEps = 1e-6f;
  for (int64_t k = 0; k < G; ++k) {
    const auto flat = work.view({-1}).argmax().item<int64_t>();
    const int64_t g = flat / A, a = flat % A;
    if (work[g][a].item<float>() < kEps) break;
    m[a] = g;
    work[g].fill_(-1);
    work.select(1, a).fill_(-1);
  }
  const auto [best, best_gt] = iou.max(/*dim=*/0);  // (A)
  const auto* b = best.data_ptr<float>();
  const auto* bg = best_gt.data_ptr<int64_t>();
  for (int64_t a = 0; a < A; ++a)
    if (m[a] < 0 && b[a] >= overlap_threshold) m[a] = bg[a];
  return match;
}

MultiBoxLoss multibox_loss(const torch::Tensor& loc, const torch::Tensor& conf, const torch::Tensor& priors,
                           const torch::Tensor& gt_boxes, const torch::Tensor& gt_labels,
                           const torch::Tensor& num_boxes, const MultiBoxLossOptions& opt) {
  TORCH_CHECK(loc.dim() == 3 && loc.size(2) == 4, "multibox_loss: loc must be (N, A, 4), got ", loc.sizes());
  TORCH_CHECK(conf.dim() == 3 && conf.size(1) == loc.size(1), "multibox_loss: conf must be (N, A, C+1), got ",
              conf.sizes());
  TORCH_CHECK(priors.size(0) == loc.size(1), "multibox_loss: ", priors.size(0), " priors for ", loc.size(1),
              " predictions");
  const int64_t N = loc.size(0), A = loc.size(1);
  auto target_labels = torch::zeros({N, A}, torch::kInt64);  // 0 = background
  auto target_boxes = torch::zeros({N, A, 4}, torch::kFloat32);
  auto neg_candidates = torch::zeros({N, A}, torch::kBool);
  {
    torch::NoGradGuard no_grad;
    for (int64_t i = 0; i < N; ++i) {
      const int64_t g = num_boxes[i].item<int64_t>();
      const auto gt = gt_boxes[i].narrow(0, 0, g);
      const auto match = match_priors(gt, priors.cpu(), opt.overlap_threshold);
      const auto pos = match >= 0;
      if (g > 0) {
        const auto idx = match.clamp_min(0);
        target_labels[i] =
            torch::where(pos, gt_labels[i].narrow(0, 0, g).index_select(0, idx) + 1, torch::zeros_like(idx));
        target_boxes[i] = gt.index_select(0, idx);
        const auto max_iou = std::get<0>(box_iou(gt, priors.cpu()).max(0));
        neg_candidates[i] = match.lt(0).logical_and(max_iou < opt.neg_overlap);
      } else {
        neg_candidates[i] = torch::ones({A}, torch::kBool);
      }
    }
  }
  // Matching ran on the CPU (priors and boxes are small); the loss runs where the predictions are.
  const auto dev = loc.device();
  target_labels = target_labels.to(dev);
  target_boxes = target_boxes.to(dev);
  neg_candidates = neg_candidates.to(dev);
  const auto pos = target_labels > 0;  // (N, A)
  const int64_t num_pos = pos.sum().item<int64_t>();
  const double norm = std::max<int64_t>(1, num_pos);

  // Hard negatives: the highest background losses, neg_pos_ratio per positive of the same image.
  const auto ce =
      torch::nn::functional::cross_entropy(conf.reshape({N * A, -1}), target_labels.view({-1}),
                                           torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
          .view({N, A});
  auto selected = pos.clone();
  {
    torch::NoGradGuard no_grad;
    const auto mining = ce.detach().masked_fill(neg_candidates.logical_not(), -1.0);
    for (int64_t i = 0; i < N; ++i) {
      const int64_t n_pos = pos[i].sum().item<int64_t>();
      const int64_t n_cand = neg_candidates[i].sum().item<int64_t>();
      const int64_t n_neg = std::min<int64_t>(static_cast<int64_t>(n_pos * opt.neg_pos_ratio), n_cand);
      if (n_neg <= 0) continue;
      const auto top = std::get<1>(mining[i].topk(n_neg));
      selected[i].index_fill_(0, top, true);
    }
  }
  const auto conf_loss = (ce * selected.to(ce.dtype())).sum() / norm;

  const auto enc = encode_boxes(target_boxes, priors.to(dev).unsqueeze(0).expand({N, A, 4}));
  const auto l1 = torch::nn::functional::smooth_l1_loss(
      loc, enc, torch::nn::functional::SmoothL1LossFuncOptions().reduction(torch::kNone));  // (N, A, 4)
  const auto loc_loss = (l1.sum(-1) * pos.to(l1.dtype())).sum() / norm;
  return {loc_loss, conf_loss, num_pos};
}

}  // namespace compress
