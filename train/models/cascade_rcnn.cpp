#include "train/models/cascade_rcnn.h"

#include <torch/torch.h>

#include <cmath>

#include "train/config/config.h"
#include "train/data/loader.h"
#include "train/models/rcnn/anchors.h"
#include "train/models/rcnn/bbox_head.h"
#include "train/models/rcnn/box_transform.h"
#include "train/util/error.h"

namespace compress {

CascadeRCNNOptions::CascadeRCNNOptions() {
  for (double t : {0.5, 0.6, 0.7}) stages.push_back({t, t, 0.0, 512, 0.25});
  for (float w : {10.f, 20.f, 30.f}) bbox_reg_weights.push_back({w, w, w / 2, w / 2});
}

CascadeRCNNOptions cascade_rcnn_options_from_config(const Config& cfg) {
  CascadeRCNNOptions o;
  o.num_classes = cfg.get<int64_t>("num_classes");
  if (cfg.get<std::string>("CascadeRCNN.backbone") != "MobileNetV3")
    fail("CascadeRCNN.backbone: unsupported '", cfg.get<std::string>("CascadeRCNN.backbone"), "' (valid: MobileNetV3)");
  o.model_name = cfg.get<std::string>("MobileNetV3.model_name");
  o.scale = cfg.get<double>("MobileNetV3.scale");
  o.feature_maps = cfg.get<std::vector<int64_t>>("MobileNetV3.feature_maps");
  o.freeze_norm = cfg.get<bool>("MobileNetV3.freeze_norm");
  for (size_t i = 0; i < o.feature_maps.size(); ++i)
    if (o.feature_maps[i] < 2 || o.feature_maps[i] > 5 || (i > 0 && o.feature_maps[i] != o.feature_maps[i - 1] + 1))
      fail("MobileNetV3.feature_maps: Cascade R-CNN's FPN needs consecutive indices in 2..5, got index ",
           o.feature_maps[i]);
  o.fpn_channels = cfg.get<int64_t>("FPN.num_chan");
  o.min_level = cfg.get<int64_t>("FPN.min_level");
  o.max_level = cfg.get<int64_t>("FPN.max_level");
  o.has_extra_convs = cfg.get<bool>("FPN.has_extra_convs");
  if (o.feature_maps.empty() || o.min_level != o.feature_maps.front())
    fail("FPN.min_level: must be the first backbone feature map's level (", o.feature_maps.front(), "), got ",
         o.min_level);
  const std::string r = "FPNRPNHead.";
  if (cfg.get<int64_t>(r + "min_level") != o.min_level || cfg.get<int64_t>(r + "max_level") != o.max_level)
    fail(r, "min_level/max_level: must equal FPN's (", o.min_level, ", ", o.max_level, ")");
  o.anchor_start_size = cfg.get<double>(r + "anchor_start_size");
  o.aspect_ratios = cfg.get<std::vector<double>>(r + "aspect_ratios");
  o.rpn_channels = cfg.get<int64_t>(r + "num_chan");
  o.rpn_target.batch_size_per_im = cfg.get<int64_t>(r + "rpn_target_assign.rpn_batch_size_per_im");
  o.rpn_target.fg_fraction = cfg.get<double>(r + "rpn_target_assign.rpn_fg_fraction");
  o.rpn_target.positive_overlap = cfg.get<double>(r + "rpn_target_assign.rpn_positive_overlap");
  o.rpn_target.negative_overlap = cfg.get<double>(r + "rpn_target_assign.rpn_negative_overlap");
  o.rpn_target.straddle_thresh = cfg.get<double>(r + "rpn_target_assign.rpn_straddle_thresh");
  for (auto [key, p] : {std::pair{"train_proposal", &o.train_proposal}, std::pair{"test_proposal", &o.test_proposal}}) {
    const std::string k = r + key + ".";
    *p = {cfg.get<int64_t>(k + "pre_nms_top_n"), cfg.get<int64_t>(k + "post_nms_top_n"),
          cfg.get<double>(k + "nms_thresh"), cfg.get<double>(k + "min_size")};
    if (p->pre_nms_top_n < 1 || p->post_nms_top_n < 1) fail(k, "pre_nms_top_n/post_nms_top_n: must be >= 1");
  }
  const std::string a = "FPNRoIAlign.";
  o.roi = {cfg.get<int64_t>(a + "box_resolution"),   cfg.get<int64_t>(a + "sampling_ratio"),
           cfg.get<int64_t>(a + "min_level"),        cfg.get<int64_t>(a + "max_level"),
           cfg.get<int64_t>(a + "canconical_level"), cfg.get<double>(a + "canonical_size")};
  if (o.roi.min_level < o.min_level || o.roi.max_level > o.max_level || o.roi.min_level > o.roi.max_level)
    fail(a, "min_level/max_level: ", o.roi.min_level, "..", o.roi.max_level, " must lie within FPN's levels ",
         o.min_level, "..", o.max_level);
  if (o.roi.resolution < 1 || o.roi.sampling_ratio < 1) fail(a, "box_resolution/sampling_ratio: must be >= 1");
  const std::string s = "CascadeBBoxAssigner.";
  const auto fg = cfg.get<std::vector<double>>(s + "fg_thresh");
  const auto hi = cfg.get<std::vector<double>>(s + "bg_thresh_hi");
  const auto lo = cfg.get<std::vector<double>>(s + "bg_thresh_lo");
  const auto w = cfg.get<std::vector<double>>(s + "bbox_reg_weights");
  const std::string h = "CascadeBBoxHead.";
  o.stage_loss_weights = cfg.get<std::vector<double>>(h + "stage_loss_weights");
  const size_t n = fg.size();
  if (n < 1 || hi.size() != n || lo.size() != n || w.size() != n || o.stage_loss_weights.size() != n)
    fail(s, "fg_thresh, bg_thresh_hi, bg_thresh_lo, bbox_reg_weights and ", h,
         "stage_loss_weights: one value per stage, got ", fg.size(), ", ", hi.size(), ", ", lo.size(), ", ", w.size(),
         " and ", o.stage_loss_weights.size());
  o.stages.clear();
  o.bbox_reg_weights.clear();
  for (size_t i = 0; i < n; ++i) {
    if (!(w[i] > 0)) fail(s, "bbox_reg_weights: must be positive, got ", w[i]);
    o.stages.push_back(
        {fg[i], hi[i], lo[i], cfg.get<int64_t>(s + "batch_size_per_im"), cfg.get<double>(s + "fg_fraction")});
    const float wf = static_cast<float>(w[i]);
    o.bbox_reg_weights.push_back({wf, wf, wf / 2, wf / 2});
  }
  o.head_hidden = cfg.get<int64_t>(h + "mlp_dim");
  o.nms.score_threshold = cfg.get<double>(h + "nms.score_threshold");
  o.nms.nms_threshold = cfg.get<double>(h + "nms.nms_threshold");
  o.nms.keep_top_k = cfg.get<int64_t>(h + "nms.keep_top_k");
  o.box_loss = {cfg.get<double>("BalancedL1Loss.alpha"), cfg.get<double>("BalancedL1Loss.gamma"),
                cfg.get<double>("BalancedL1Loss.beta")};
  return o;
}

CascadeRCNNImpl::CascadeRCNNImpl(const CascadeRCNNOptions& o) : opt(o) {
  num_classes = o.num_classes;
  if (num_classes < 1) fail("num_classes must be >= 1, got ", num_classes);
  if (o.feature_maps.empty() || o.stages.empty() || o.bbox_reg_weights.size() != o.stages.size() ||
      o.stage_loss_weights.size() != o.stages.size())
    fail("CascadeRCNN: needs backbone feature maps and, per stage, a sampler, box weights and a loss weight");
  // Only the units the taps need: the last tap's stride is 2^feature_maps.back().
  backbone = register_module("backbone", MobileNetV3(o.model_name, o.scale, int64_t{1} << o.feature_maps.back()));
  std::vector<int64_t> taps;
  for (int64_t m : o.feature_maps) taps.push_back(backbone->map_channels(m));
  fpn = register_module("fpn", FPN(taps, o.fpn_channels, o.min_level, o.max_level, o.has_extra_convs));
  rpn_head = register_module("rpn_head",
                             RPNHead(o.fpn_channels, o.rpn_channels, static_cast<int64_t>(o.aspect_ratios.size())));
  bbox_head = register_module("bbox_head", torch::nn::ModuleList());
  const int64_t pooled = o.fpn_channels * o.roi.resolution * o.roi.resolution;
  for (size_t s = 0; s < o.stages.size(); ++s) bbox_head->push_back(BBoxHead(pooled, o.head_hidden, num_classes));
  if (o.freeze_norm) {
    // The reference's freeze_norm: the backbone's BN keeps its (pretrained)
    // statistics and affine parameters.
    for (const auto& m : backbone->modules(false))
      if (auto* c = m->as<ConvBNLayer>(); c && c->bn) {
        c->bn_frozen = true;
        c->bn->weight.set_requires_grad(false);
        c->bn->bias.set_requires_grad(false);
      }
  }
}

void CascadeRCNNImpl::train(bool on) {
  torch::nn::Module::train(on);
  if (opt.freeze_norm)
    for (const auto& m : backbone->modules(false))
      if (auto* bn = m->as<torch::nn::BatchNorm2d>()) bn->eval();
}

std::vector<torch::Tensor> CascadeRCNNImpl::forward(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3, "CascadeRCNN: expected (N, 3, H, W) images, got ",
              images.sizes());
  std::vector<torch::Tensor> out = fpn->forward(backbone->forward_maps(images, opt.feature_maps));
  const size_t L = out.size();
  std::vector<torch::Tensor> box;
  for (size_t l = 0; l < L; ++l) {
    set_quant_site(*rpn_head, static_cast<int64_t>(l));  // QAT: one observer per FPN level
    auto [c, b] = rpn_head->forward(out[l]);
    out.push_back(c);  // (N, A, H_l, W_l)
    box.push_back(b);  // (N, 4A, H_l, W_l)
  }
  out.insert(out.end(), box.begin(), box.end());
  return out;
}

namespace {
size_t num_levels(const std::vector<torch::Tensor>& outputs) {
  TORCH_CHECK(!outputs.empty() && outputs.size() % 3 == 0, "CascadeRCNN: expected 3 tensors per FPN level, got ",
              outputs.size());
  return outputs.size() / 3;
}

// Concatenates per-image RoIs -> {rois (R, 4), batch_idx (R) int64}.
std::pair<torch::Tensor, torch::Tensor> stack_rois(const std::vector<torch::Tensor>& per_image) {
  std::vector<torch::Tensor> idx;
  for (size_t i = 0; i < per_image.size(); ++i)
    idx.push_back(torch::full({per_image[i].size(0)}, static_cast<int64_t>(i),
                              torch::TensorOptions().dtype(torch::kLong).device(per_image[i].device())));
  return {torch::cat(per_image), torch::cat(idx)};
}

std::vector<torch::Tensor> split_rois(const torch::Tensor& rois, const torch::Tensor& batch_idx, int64_t n) {
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(rois.index_select(0, torch::nonzero(batch_idx == i).view({-1})));
  return out;
}
}  // namespace

std::vector<torch::Tensor> CascadeRCNNImpl::anchors(const std::vector<torch::Tensor>& outputs) const {
  const size_t L = num_levels(outputs);
  std::vector<torch::Tensor> out;
  for (size_t k = 0; k < L; ++k) {
    const int64_t level = opt.min_level + static_cast<int64_t>(k);
    const auto& m = outputs[L + k];
    out.push_back(level_anchors(m.size(2), m.size(3), std::pow(2.0, level),
                                opt.anchor_start_size * std::pow(2.0, static_cast<double>(k)), opt.aspect_ratios)
                      .to(m.device()));
  }
  return out;
}

CascadeRCNNImpl::RpnMaps CascadeRCNNImpl::rpn_maps(const std::vector<torch::Tensor>& outputs) const {
  const size_t L = num_levels(outputs);
  RpnMaps m;
  for (size_t k = 0; k < L; ++k) {
    m.cls.push_back(flatten_objectness(outputs[L + k]));
    m.box.push_back(flatten_deltas(outputs[2 * L + k]));
  }
  return m;
}

std::vector<torch::Tensor> CascadeRCNNImpl::proposals(const std::vector<torch::Tensor>& outputs,
                                                      const std::vector<torch::Tensor>& anc, int64_t in_h, int64_t in_w,
                                                      const ProposalOptions& po) const {
  return proposals(rpn_maps(outputs), anc, in_h, in_w, po);
}

std::vector<torch::Tensor> CascadeRCNNImpl::proposals(const RpnMaps& maps, const std::vector<torch::Tensor>& anc,
                                                      int64_t in_h, int64_t in_w, const ProposalOptions& po) const {
  const size_t L = maps.cls.size();
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < maps.cls[0].size(0); ++i) {
    std::vector<torch::Tensor> ci, bi;
    for (size_t k = 0; k < L; ++k) ci.push_back(maps.cls[k][i].detach()), bi.push_back(maps.box[k][i].detach());
    out.push_back(generate_proposals(ci, bi, anc, in_h, in_w, po));
  }
  return out;
}

std::pair<torch::Tensor, torch::Tensor> CascadeRCNNImpl::run_stage(size_t stage,
                                                                   const std::vector<torch::Tensor>& outputs,
                                                                   const torch::Tensor& rois,
                                                                   const torch::Tensor& batch_idx) {
  const size_t L = num_levels(outputs);
  const std::vector<torch::Tensor> feats(outputs.begin(), outputs.begin() + static_cast<std::ptrdiff_t>(L));
  const auto pooled = multilevel_roi_align(feats, opt.min_level, rois, batch_idx, opt.roi);  // (R, 48, 7, 7)
  return bbox_head[stage]->as<BBoxHead>()->forward(pooled);
}

LossTerms CascadeRCNNImpl::loss(const std::vector<torch::Tensor>& outputs, const Batch& batch) {
  const auto device = outputs[0].device();
  const int64_t N = outputs[0].size(0), H = batch.images.size(2), W = batch.images.size(3);
  std::vector<torch::Tensor> gt, gt_labels;
  for (int64_t i = 0; i < N; ++i) {
    const int64_t n = batch.num_boxes[i].item<int64_t>();
    gt.push_back(batch.boxes[i].slice(0, 0, n).to(device));
    gt_labels.push_back(batch.labels[i].slice(0, 0, n).to(device));
  }
  // RPN: all levels' anchors in one list per image.
  const RpnMaps maps = rpn_maps(outputs);
  const auto anc = anchors(outputs);
  const auto rpn =
      rpn_loss(torch::cat(maps.cls, 1), torch::cat(maps.box, 1), torch::cat(anc), gt, opt.rpn_target, H, W);
  LossTerms t;
  t.terms = {{"rpn_cls", rpn.cls}, {"rpn_bbox", rpn.bbox}};
  torch::Tensor total = rpn.cls + rpn.bbox;
  // Cascade: each stage samples from the previous stage's refined boxes.
  std::vector<torch::Tensor> rois = proposals(maps, anc, H, W, is_training() ? opt.train_proposal : opt.test_proposal);
  for (size_t s = 0; s < opt.stages.size(); ++s) {
    std::vector<torch::Tensor> r, lab, g;
    for (int64_t i = 0; i < N; ++i) {
      const auto tg = sample_rois(rois[i], gt[i], gt_labels[i], opt.stages[s]);
      r.push_back(tg.rois), lab.push_back(tg.labels), g.push_back(tg.gt_boxes);
    }
    const auto [roi, bidx] = stack_rois(r);
    const auto labels = torch::cat(lab), gtb = torch::cat(g);
    const auto [logits, deltas] = run_stage(s, outputs, roi, bidx);
    const auto cls_loss = torch::cross_entropy_loss(logits, labels);
    const auto fg = torch::nonzero(labels > 0).view({-1});
    const auto target = rcnn_encode(gtb.index_select(0, fg), roi.index_select(0, fg), opt.bbox_reg_weights[s]);
    const auto box_loss = balanced_l1(deltas.index_select(0, fg) - target, opt.box_loss).sum() /
                          static_cast<double>(std::max<int64_t>(labels.numel(), 1));
    const std::string k = std::to_string(s);
    t.terms.push_back({"cls" + k, cls_loss});
    t.terms.push_back({"bbox" + k, box_loss});
    total = total + opt.stage_loss_weights[s] * (cls_loss + box_loss);
    if (s + 1 < opt.stages.size()) {
      torch::NoGradGuard no_grad;
      rois = split_rois(clip_boxes(rcnn_decode(deltas, roi, opt.bbox_reg_weights[s]), H, W), bidx, N);
    }
  }
  t.total = total;
  return t;
}

std::pair<torch::Tensor, torch::Tensor> CascadeRCNNImpl::refine(const std::vector<torch::Tensor>& outputs,
                                                                torch::Tensor rois, const torch::Tensor& batch_idx,
                                                                int64_t in_h, int64_t in_w) {
  torch::NoGradGuard no_grad;
  torch::Tensor scores, boxes;
  for (size_t s = 0; s < opt.stages.size(); ++s) {
    const auto [logits, deltas] = run_stage(s, outputs, rois, batch_idx);
    const auto p = torch::softmax(logits, 1);
    scores = s == 0 ? p : scores + p;
    boxes = clip_boxes(rcnn_decode(deltas, rois, opt.bbox_reg_weights[s]), in_h, in_w);
    rois = boxes;
  }
  return {boxes, scores / static_cast<double>(opt.stages.size())};
}

std::vector<std::pair<torch::Tensor, torch::Tensor>> CascadeRCNNImpl::detect(const std::vector<torch::Tensor>& outputs,
                                                                             int64_t in_h, int64_t in_w) {
  torch::NoGradGuard no_grad;
  const int64_t N = outputs[0].size(0);
  const auto [rois, bidx] = stack_rois(proposals(outputs, anchors(outputs), in_h, in_w, opt.test_proposal));
  const auto [boxes, scores] = refine(outputs, rois, bidx, in_h, in_w);
  std::vector<std::pair<torch::Tensor, torch::Tensor>> out;
  for (int64_t i = 0; i < N; ++i) {
    const auto idx = torch::nonzero(bidx == i).view({-1});
    out.emplace_back(boxes.index_select(0, idx), scores.index_select(0, idx));
  }
  return out;
}

std::vector<ImageDetections> CascadeRCNNImpl::postprocess(const std::vector<torch::Tensor>& outputs, int64_t in_h,
                                                          int64_t in_w) {
  std::vector<ImageDetections> result;
  for (const auto& [boxes, scores] : detect(outputs, in_h, in_w))
    result.push_back(multiclass_nms(boxes, scores.slice(1, 1), in_h, in_w, opt.nms));  // column 0 is background
  return result;
}

}  // namespace compress
