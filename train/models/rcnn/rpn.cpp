#include "train/models/rcnn/rpn.h"

#include <torch/torch.h>

#include "train/models/nms.h"
#include "train/models/rcnn/box_transform.h"
#include "train/models/rcnn/sampler.h"

namespace compress {

namespace {
constexpr std::array<float, 4> kRpnWeights = {1.f, 1.f, 1.f, 1.f};

// The k best scores' indices, best first, the lower index first among equal
// scores: ONNX TopK's order, so an exported model picks the same anchors
// (fashion-det's black backgrounds give many exactly equal logits).
torch::Tensor top_indices(const torch::Tensor& scores, int64_t k) {
  return std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true)).slice(0, 0, k);
}
}  // namespace

RPNHeadImpl::RPNHeadImpl(int64_t in, int64_t channels, int64_t A) {
  conv = register_module("conv", ConvBNLayer(ConvBNOptions(in, channels, 3, 1, 1, Act::ReLU, false)));
  rpn_cls_logits =
      register_module("rpn_cls_logits", ConvBNLayer(ConvBNOptions(channels, A, 1, 1, 1, Act::None, false)));
  rpn_bbox_pred =
      register_module("rpn_bbox_pred", ConvBNLayer(ConvBNOptions(channels, 4 * A, 1, 1, 1, Act::None, false)));
  // Detectron's init: N(0, 0.01) weights, zero biases.
  torch::NoGradGuard no_grad;
  for (auto* l : {conv.get(), rpn_cls_logits.get(), rpn_bbox_pred.get()}) {
    l->conv->weight.normal_(0, 0.01);
    l->conv->bias.zero_();
  }
}

std::pair<torch::Tensor, torch::Tensor> RPNHeadImpl::forward(const torch::Tensor& x) {
  const auto h = conv->forward(x);
  return {rpn_cls_logits->forward(h), rpn_bbox_pred->forward(h)};
}

std::pair<torch::Tensor, torch::Tensor> assign_anchors(const torch::Tensor& anchors, const torch::Tensor& gt,
                                                       const RpnTargetOptions& o, int64_t height, int64_t width) {
  const int64_t K = anchors.size(0);
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(anchors.device());
  // (K) bool: within straddle_thresh of the image on every side. Continuous
  // coordinates: an anchor ending on the border (x2 == width) is inside.
  torch::Tensor inside = torch::ones({K}, opts.dtype(torch::kBool));
  if (o.straddle_thresh >= 0) {
    const double t = o.straddle_thresh;
    inside = (anchors.select(1, 0) >= -t) & (anchors.select(1, 1) >= -t) & (anchors.select(1, 2) <= width + t) &
             (anchors.select(1, 3) <= height + t);
  }
  if (gt.size(0) == 0) return {torch::zeros({K}, opts).masked_fill_(inside.logical_not(), -1), torch::zeros({K}, opts)};
  // (K, M); straddling anchors at -1 can be no GT's best.
  const auto iou = box_iou(anchors, gt).masked_fill(inside.logical_not().unsqueeze(1), -1);
  const auto [max_iou, matched] = iou.max(1);  // (K)
  auto labels = torch::full({K}, -1, opts);
  labels.masked_fill_((max_iou < o.negative_overlap) & inside, 0);
  // Each GT's best anchors (ties included) are positive, so no GT goes unmatched.
  const auto gt_best = std::get<0>(iou.max(0));  // (M)
  const auto is_best = ((iou == gt_best.unsqueeze(0)) & (gt_best.unsqueeze(0) > 0)).any(1);
  labels.masked_fill_(is_best | (max_iou >= o.positive_overlap), 1);
  return {labels, matched};
}

torch::Tensor flatten_objectness(const torch::Tensor& cls) {
  return cls.permute({0, 2, 3, 1}).reshape({cls.size(0), -1});
}

torch::Tensor flatten_deltas(const torch::Tensor& box) {
  const int64_t N = box.size(0), A = box.size(1) / 4;
  return box.view({N, A, 4, box.size(2), box.size(3)}).permute({0, 3, 4, 1, 2}).reshape({N, -1, 4});
}

RpnLoss rpn_loss(const torch::Tensor& logits, const torch::Tensor& deltas, const torch::Tensor& anchors,
                 const std::vector<torch::Tensor>& gt, const RpnTargetOptions& o, int64_t height, int64_t width) {
  torch::Tensor cls_sum = torch::zeros({}, logits.options()), box_sum = torch::zeros({}, logits.options());
  int64_t sampled = 0;
  for (size_t i = 0; i < gt.size(); ++i) {
    torch::Tensor labels, matched;
    {
      torch::NoGradGuard no_grad;
      std::tie(labels, matched) = assign_anchors(anchors, gt[i], o, height, width);
      labels = sample_balanced(labels, o.batch_size_per_im, o.fg_fraction);
    }
    const auto use = torch::nonzero(labels >= 0).view({-1});
    sampled += use.numel();
    const auto l = logits[i].index_select(0, use);
    cls_sum = cls_sum + torch::binary_cross_entropy_with_logits(l, labels.index_select(0, use).to(l.scalar_type()), {},
                                                                {}, at::Reduction::Sum);
    const auto fg = torch::nonzero(labels == 1).view({-1});
    if (fg.numel() == 0) continue;
    const auto target =
        rcnn_encode(gt[i].index_select(0, matched.index_select(0, fg)), anchors.index_select(0, fg), kRpnWeights);
    box_sum = box_sum + torch::smooth_l1_loss(deltas[i].index_select(0, fg), target, at::Reduction::Sum, 1.0 / 9);
  }
  const double n = static_cast<double>(std::max<int64_t>(sampled, 1));
  return {cls_sum / n, box_sum / n};
}

torch::Tensor generate_proposals(const std::vector<torch::Tensor>& logits, const std::vector<torch::Tensor>& deltas,
                                 const std::vector<torch::Tensor>& anchors, int64_t height, int64_t width,
                                 const ProposalOptions& o) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(logits.size() == deltas.size() && logits.size() == anchors.size(),
              "generate_proposals: one logits, deltas and anchors tensor per level");
  const auto device = logits.at(0).device();
  std::vector<torch::Tensor> boxes, scores;
  for (size_t l = 0; l < logits.size(); ++l) {
    auto s = logits[l].to(torch::kCPU, torch::kFloat32);
    auto idx = top_indices(s, o.pre_nms_top_n);
    s = s.index_select(0, idx);
    auto b = clip_boxes(rcnn_decode(deltas[l].to(torch::kCPU, torch::kFloat32).index_select(0, idx),
                                    anchors[l].to(torch::kCPU, torch::kFloat32).index_select(0, idx), kRpnWeights),
                        height, width);
    const double min_size = std::max(o.min_size, 1e-3);  // zero-area boxes after clipping are never proposals
    const auto ok =
        torch::nonzero((b.select(1, 2) - b.select(1, 0) >= min_size) & (b.select(1, 3) - b.select(1, 1) >= min_size))
            .view({-1});
    b = b.index_select(0, ok);
    s = s.index_select(0, ok);
    const auto keep = nms(b, s, o.nms_thresh, o.post_nms_top_n);
    boxes.push_back(b.index_select(0, keep));
    scores.push_back(s.index_select(0, keep));
  }
  auto b = torch::cat(boxes), s = torch::cat(scores);
  return b.index_select(0, top_indices(s, o.post_nms_top_n)).to(device);
}

}  // namespace compress
