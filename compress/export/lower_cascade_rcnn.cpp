// Cascade R-CNN as one ONNX graph: the dense part (backbone, FPN, RPN head), the
// proposals (per level TopK, decode, clip, size filter, NonMaxSuppression; then
// the best over all levels), multi-level RoiAlign and the cascade stages, as
// CascadeRCNNImpl::forward, proposals() and refine() compute them. Batch 1:
// the number of proposals is data-dependent.
//
// Input "image" (1, 3, H, W), H and W multiples of the backbone's last tap
// stride. Outputs, in this order:
//   fpn_p{l}      (1, C, H / 2^l, W / 2^l)  FPN levels l = min_level..max_level
//   rpn_cls_p{l}  (1, A, H / 2^l, W / 2^l)  objectness logits
//   rpn_bbox_p{l} (1, 4A, H / 2^l, W / 2^l) anchor deltas
//   proposals     (R, 4) xyxy input pixels, best objectness first, R <= post_nms_top_n
//   boxes         (R, 4) xyxy input pixels, the last stage's
//   scores        (R, C + 1) softmax averaged over the stages, column 0 background
// NMS over the classes stays in application code, as for SSD and YOLOv3.
// Its entry in the architecture table.
#include <torch/torch.h>

#include "compress/export/architectures.h"
#include "compress/export/lower_blocks.h"

#include <cmath>

#include "compress/export/emitter.h"
#include "train/models/cascade_rcnn.h"
#include "train/models/multiclass_nms.h"
#include "train/models/rcnn/bbox_head.h"
#include "train/util/error.h"

namespace compress::onnx_export {
namespace {

const Attr kAxis0{"axis", int64_t{0}};
const Attr kAxis1{"axis", int64_t{1}};

class CascadeEmitter {
 public:
  CascadeEmitter(Emitter& e, OnnxGraph& g, CascadeRCNNImpl& m, int64_t h, int64_t w)
      : e_(e), g_(g), m_(m), H_(h), W_(w) {}

  std::string scalar(const std::string& name, float v) { return g_.add_float(name, {}, &v); }
  std::string floats(const std::string& name, const std::vector<float>& v) {
    return g_.add_float(name, {static_cast<int64_t>(v.size())}, v.data());
  }
  // Columns [a, b) of an (R, K) tensor.
  std::string cols(const std::string& x, int64_t a, int64_t b, const std::string& n) { return e_.slice(x, 1, a, b, n); }

  // The backbone's taps: the output of the last unit at stride 2^k for each k of feature_maps.
  std::vector<std::string> backbone() {
    auto& b = *m_.backbone;
    std::vector<int64_t> at;
    for (int64_t k : m_.opt.feature_maps) {
      int64_t found = -1;
      for (size_t i = 0; i < b.block_stride.size(); ++i)
        if (b.block_stride[i] == (int64_t{1} << k)) found = static_cast<int64_t>(i);
      if (found < 0) fail("export: the backbone has no unit at stride ", int64_t{1} << k);
      at.push_back(found);
    }
    auto y = e_.conv_bn("image", *b.conv1, "backbone.conv1");
    std::vector<std::string> taps;
    for (int64_t i = 0; i <= at.back(); ++i) {
      y = residual_unit(e_, y, *b.blocks[i]->as<ResidualUnit>(), "backbone.blocks." + std::to_string(i)).second;
      for (int64_t a : at)
        if (a == i) taps.push_back(y);
    }
    return taps;
  }

  // FPNImpl::forward: top-down 2x nearest upsampling plus laterals, 3x3 output
  // convs, then the extra levels.
  std::vector<std::string> fpn(const std::vector<std::string>& taps) {
    auto& f = *m_.fpn;
    const size_t n = taps.size();
    const auto conv = [&](torch::nn::ModuleList& list, size_t i, const std::string& x, const std::string& kind) {
      return e_.conv_bn(x, *list[i]->as<ConvBNLayer>(), "fpn." + kind + "." + std::to_string(i));
    };
    std::vector<std::string> inner(n), out;
    inner[n - 1] = conv(f.fpn_inner, n - 1, taps[n - 1], "fpn_inner");
    const float sc[4] = {1, 1, 2, 2};
    for (size_t i = n - 1; i-- > 0;) {
      const auto lateral = conv(f.fpn_inner, i, taps[i], "fpn_inner");
      const std::string p = "fpn.fpn_inner." + std::to_string(i);
      const auto up =
          g_.add_node1("Resize", {inner[i + 1], "", g_.add_float(p + ".up_scales", {4}, sc)}, p + ".upsample",
                       {{"mode", std::string("nearest")},
                        {"coordinate_transformation_mode", std::string("asymmetric")},
                        {"nearest_mode", std::string("floor")}});
      inner[i] = g_.add_node1("Add", {lateral, up}, p + ".sum");
    }
    for (size_t i = 0; i < n; ++i) out.push_back(conv(f.fpn_layer, i, inner[i], "fpn_layer"));
    for (int64_t l = f.min_level + static_cast<int64_t>(n); l <= f.max_level; ++l) {
      const size_t j = static_cast<size_t>(l - f.min_level) - n;
      if (f.has_extra_convs) {
        const auto in = j == 0 ? taps.back()
                               : g_.add_node1("Relu", {out.back()}, "fpn.fpn_extra." + std::to_string(j) + ".relu_in");
        out.push_back(conv(f.fpn_extra, j, in, "fpn_extra"));
      } else {
        out.push_back(
            g_.add_node1("MaxPool", {out.back()}, "fpn.pool_p" + std::to_string(l),
                         {{"kernel_shape", std::vector<int64_t>{1, 1}}, {"strides", std::vector<int64_t>{2, 2}}}));
      }
    }
    return out;
  }

  // rcnn_decode on (R, 4) deltas and RoIs: the size deltas capped at
  // log(1000 / 16) x weight, centre-size decoding with variances 1 / weight.
  std::string decode(const std::string& d, const std::string& rois, const std::array<float, 4>& w,
                     const std::string& p) {
    const double clip = std::log(1000.0 / 16.0);
    const auto x1y1 = cols(rois, 0, 2, p + ".roi_xy1"), x2y2 = cols(rois, 2, 4, p + ".roi_xy2");
    const auto pwh = g_.add_node1("Sub", {x2y2, x1y1}, p + ".roi_wh");
    const auto half = scalar(p + ".half", 0.5f);
    const auto pc =
        g_.add_node1("Add", {x1y1, g_.add_node1("Mul", {pwh, half}, p + ".roi_half_wh")}, p + ".roi_centre");
    const auto dxy =
        g_.add_node1("Mul", {cols(d, 0, 2, p + ".dxy"), floats(p + ".var_xy", {1.f / w[0], 1.f / w[1]})}, p + ".dxy_v");
    const auto c = g_.add_node1("Add", {g_.add_node1("Mul", {dxy, pwh}, p + ".dxy_p"), pc}, p + ".centre");
    const auto dwh = g_.add_node1(
        "Min", {cols(d, 2, 4, p + ".dwh"), floats(p + ".dwh_clip", {float(clip * w[2]), float(clip * w[3])})},
        p + ".dwh_c");
    const auto wh = g_.add_node1(
        "Mul",
        {g_.add_node1("Exp",
                      {g_.add_node1("Mul", {dwh, floats(p + ".var_wh", {1.f / w[2], 1.f / w[3]})}, p + ".dwh_v")},
                      p + ".dwh_e"),
         pwh},
        p + ".wh");
    const auto hw = g_.add_node1("Mul", {wh, half}, p + ".half_wh");
    const auto b =
        g_.add_node1("Concat", {g_.add_node1("Sub", {c, hw}, p + ".xy1"), g_.add_node1("Add", {c, hw}, p + ".xy2")},
                     p + ".xyxy", {kAxis1});
    // clip_boxes: into [0, W] x [0, H].
    const auto lo = g_.add_node1("Max", {b, scalar(p + ".zero", 0.f)}, p + ".clip_lo");
    return g_.add_node1("Min", {lo, floats(p + ".size", {float(W_), float(H_), float(W_), float(H_)})}, p + ".boxes");
  }

  // One level's proposals, as generate_proposals: {boxes (P, 4), scores (P)}.
  // cls (1, A, h, w), box (1, 4A, h, w); anchors (h w A, 4).
  std::pair<std::string, std::string> level_proposals(const std::string& cls, const std::string& box,
                                                      const torch::Tensor& anchors, const torch::Tensor& cls_map,
                                                      int64_t l) {
    const auto& o = m_.opt.test_proposal;
    const std::string p = "proposals.p" + std::to_string(l);
    const int64_t A = cls_map.size(1), h = cls_map.size(2), w = cls_map.size(3), K = anchors.size(0);
    // flatten_objectness and flatten_deltas: (h w A) and (h w A, 4), anchor order.
    const auto s =
        g_.add_node1("Reshape",
                     {g_.add_node1("Transpose", {cls}, p + ".cls_nhwc", {{"perm", std::vector<int64_t>{0, 2, 3, 1}}}),
                      e_.ints(p + ".cls_shape", {-1})},
                     p + ".cls_flat");
    const auto d5 = g_.add_node1("Reshape", {box, e_.ints(p + ".box_shape5", {1, A, 4, h, w})}, p + ".box5");
    const auto d =
        g_.add_node1("Reshape",
                     {g_.add_node1("Transpose", {d5}, p + ".box_nhwc", {{"perm", std::vector<int64_t>{0, 3, 4, 1, 2}}}),
                      e_.ints(p + ".box_shape", {-1, 4})},
                     p + ".box_flat");
    // The pre_nms_top_n best (TopK: ties to the lower index, as top_indices).
    const auto top = g_.add_node("TopK", {s, e_.ints(p + ".pre_k", {std::min(o.pre_nms_top_n, K)})}, p + ".top",
                                 {kAxis0, {"largest", int64_t{1}}, {"sorted", int64_t{1}}}, 2);
    const auto dd = g_.add_node1("Gather", {d, top[1]}, p + ".top_deltas", {kAxis0});
    const auto aa =
        g_.add_node1("Gather", {e_.constant(p + ".anchors", anchors), top[1]}, p + ".top_anchors", {kAxis0});
    const auto b = decode(dd, aa, {1.f, 1.f, 1.f, 1.f}, p + ".decode");
    // Boxes at least min_size wide and high (never zero-area ones).
    const auto ms = scalar(p + ".min_size", static_cast<float>(std::max(o.min_size, 1e-3)));
    const auto bw = g_.add_node1("Sub", {cols(b, 2, 3, p + ".x2"), cols(b, 0, 1, p + ".x1")}, p + ".w");
    const auto bh = g_.add_node1("Sub", {cols(b, 3, 4, p + ".y2"), cols(b, 1, 2, p + ".y1")}, p + ".h");
    const auto ok = g_.add_node1(
        "And",
        {g_.add_node1("GreaterOrEqual", {bw, ms}, p + ".w_ok"), g_.add_node1("GreaterOrEqual", {bh, ms}, p + ".h_ok")},
        p + ".ok");
    const auto flat_ok = g_.add_node1("Reshape", {ok, e_.ints(p + ".ok_shape", {-1})}, p + ".ok_flat");
    const auto keep =
        g_.add_node1("Reshape", {g_.add_node1("NonZero", {flat_ok}, p + ".ok_idx2"), e_.ints(p + ".keep_shape", {-1})},
                     p + ".ok_idx");
    const auto b2 = g_.add_node1("Gather", {b, keep}, p + ".sized_boxes", {kAxis0});
    const auto s2 = g_.add_node1("Gather", {top[0], keep}, p + ".sized_scores", {kAxis0});
    // Greedy NMS, at most post_nms_top_n, best first.
    const int64_t post = o.post_nms_top_n;
    const float iou = static_cast<float>(o.nms_thresh);
    const auto sel =
        g_.add_node1("NonMaxSuppression",
                     {g_.add_node1("Reshape", {b2, e_.ints(p + ".nms_boxes_shape", {1, -1, 4})}, p + ".nms_boxes"),
                      g_.add_node1("Reshape", {s2, e_.ints(p + ".nms_scores_shape", {1, 1, -1})}, p + ".nms_scores"),
                      g_.add_int64(p + ".max_out", {}, &post), g_.add_float(p + ".iou", {}, &iou)},
                     p + ".nms");
    const int64_t col = 2;
    const auto idx = g_.add_node1("Gather", {sel, g_.add_int64(p + ".box_col", {}, &col)}, p + ".kept", {kAxis1});
    return {g_.add_node1("Gather", {b2, idx}, p + ".boxes", {kAxis0}),
            g_.add_node1("Gather", {s2, idx}, p + ".scores", {kAxis0})};
  }

  // The post_nms_top_n best over all levels, best first: (R, 4).
  std::string proposals(const std::vector<std::pair<std::string, std::string>>& levels) {
    std::vector<std::string> b, s;
    for (const auto& [bl, sl] : levels) b.push_back(bl), s.push_back(sl);
    const auto boxes = g_.add_node1("Concat", b, "proposals.all_boxes", {kAxis0});
    const auto scores = g_.add_node1("Concat", s, "proposals.all_scores", {kAxis0});
    const auto k = g_.add_node1("Min",
                                {g_.add_node1("Shape", {scores}, "proposals.count"),
                                 e_.ints("proposals.post_k", {m_.opt.test_proposal.post_nms_top_n})},
                                "proposals.k");
    const auto top =
        g_.add_node("TopK", {scores, k}, "proposals.top", {kAxis0, {"largest", int64_t{1}}, {"sorted", int64_t{1}}}, 2);
    return g_.add_node1("Gather", {boxes, top[1]}, "proposals.best", {kAxis0});
  }

  // multilevel_roi_align: each RoI pooled from the level roi_levels gives it.
  // RoiAlign (opset 10) is Detectron's: no half-pixel offset, RoI sides at least
  // one cell. Each level pools only its RoIs (NonZero + Gather); ScatterND puts
  // the pooled rows back in RoI order. (Pooling every RoI on every level and
  // masking cost 4x: RoiAlign is 3/4 of the graph's time.) -> (R, C, r, r).
  std::string roi_align(const std::string& rois, const std::vector<std::string>& feats, const std::string& p) {
    const auto& o = m_.opt.roi;
    const auto w = g_.add_node1(
        "Relu", {g_.add_node1("Sub", {cols(rois, 2, 3, p + ".x2"), cols(rois, 0, 1, p + ".x1")}, p + ".w_raw")},
        p + ".w");
    const auto h = g_.add_node1(
        "Relu", {g_.add_node1("Sub", {cols(rois, 3, 4, p + ".y2"), cols(rois, 1, 2, p + ".y1")}, p + ".h_raw")},
        p + ".h");
    const auto side = g_.add_node1("Sqrt", {g_.add_node1("Mul", {w, h}, p + ".area")}, p + ".side");
    const auto ratio = g_.add_node1(
        "Add",
        {g_.add_node1("Div", {side, scalar(p + ".canonical_size", float(o.canonical_size))}, p + ".ratio_raw"),
         scalar(p + ".eps", 1e-6f)},
        p + ".ratio");
    const auto log2 =
        g_.add_node1("Mul", {g_.add_node1("Log", {ratio}, p + ".ln"), scalar(p + ".inv_ln2", float(1 / std::log(2.0)))},
                     p + ".log2");
    const auto lvl_col = g_.add_node1(
        "Clip",
        {g_.add_node1(
             "Floor",
             {g_.add_node1("Add", {log2, scalar(p + ".canonical_level", float(o.canonical_level))}, p + ".level_raw")},
             p + ".level_floor"),
         scalar(p + ".min_level", float(o.min_level)), scalar(p + ".max_level", float(o.max_level))},
        p + ".level_col");
    const auto lvl = g_.add_node1("Reshape", {lvl_col, e_.ints(p + ".level_shape", {-1})}, p + ".level");  // (R)
    std::vector<std::string> pooled, order;
    for (int64_t l = o.min_level; l <= o.max_level; ++l) {
      const std::string pl = p + ".p" + std::to_string(l);
      const auto at = g_.add_node1("NonZero", {g_.add_node1("Equal", {lvl, scalar(pl + ".id", float(l))}, pl + ".is")},
                                   pl + ".at2");
      const auto idx = g_.add_node1("Reshape", {at, e_.ints(pl + ".at_shape", {-1})}, pl + ".at");
      const auto r = g_.add_node1("Gather", {rois, idx}, pl + ".rois", {kAxis0});
      // Batch 1: every RoI is of image 0.
      const int64_t zero = 0;
      const auto n = g_.add_node1("Shape", {idx}, pl + ".n");
      const auto bidx = g_.add_node1("Expand", {g_.add_int64(pl + ".batch0", {1}, &zero), n}, pl + ".batch_idx");
      pooled.push_back(g_.add_node1("RoiAlign", {feats[static_cast<size_t>(l - m_.opt.min_level)], r, bidx}, pl,
                                    {{"mode", std::string("avg")},
                                     {"output_height", o.resolution},
                                     {"output_width", o.resolution},
                                     {"sampling_ratio", o.sampling_ratio},
                                     {"spatial_scale", float(1.0 / std::pow(2.0, double(l)))}}));
      order.push_back(idx);
    }
    // Every RoI has exactly one level, so `order` is a permutation of 0..R-1 and
    // scattering the level-grouped rows onto themselves rewrites every row.
    const auto grouped = g_.add_node1("Concat", pooled, p + ".grouped", {kAxis0});
    const auto perm = g_.add_node1(
        "Reshape", {g_.add_node1("Concat", order, p + ".order_flat", {kAxis0}), e_.ints(p + ".order_shape", {-1, 1})},
        p + ".order");
    return g_.add_node1("ScatterND", {grouped, perm, grouped}, p + ".pooled");
  }

  std::string linear(const std::string& x, torch::nn::LinearImpl& fc, const std::string& p) {
    return g_.add_node1("Gemm", {x, e_.constant(p + ".weight", fc.weight), e_.constant(p + ".bias", fc.bias)}, p,
                        {{"transB", int64_t{1}}});
  }

  // {boxes, scores} after the stages, as CascadeRCNNImpl::refine.
  std::pair<std::string, std::string> stages(std::string rois, const std::vector<std::string>& feats) {
    std::string sum, boxes;
    const size_t n = m_.opt.stages.size();
    for (size_t s = 0; s < n; ++s) {
      const std::string p = "bbox_head." + std::to_string(s);
      auto& head = *m_.bbox_head[s]->as<BBoxHead>();
      const auto pooled = roi_align(rois, feats, p + ".roi_align");
      auto x = g_.add_node1("Flatten", {pooled}, p + ".flatten", {kAxis1});
      x = g_.add_node1("Relu", {linear(x, *head.fc6, p + ".fc6")}, p + ".fc6.relu");
      x = g_.add_node1("Relu", {linear(x, *head.fc7, p + ".fc7")}, p + ".fc7.relu");
      const auto prob = g_.add_node1("Softmax", {linear(x, *head.cls_score, p + ".cls_score")}, p + ".prob", {kAxis1});
      sum = s == 0 ? prob : g_.add_node1("Add", {sum, prob}, p + ".prob_sum");
      boxes = decode(linear(x, *head.bbox_pred, p + ".bbox_pred"), rois, m_.opt.bbox_reg_weights[s], p + ".decode");
      rois = boxes;
    }
    return {boxes, g_.add_node1("Mul", {sum, scalar("scores.mean", 1.f / static_cast<float>(n))}, "scores.avg")};
  }

  Emitter& e_;
  OnnxGraph& g_;
  CascadeRCNNImpl& m_;
  int64_t H_, W_;
};

}  // namespace

std::vector<std::string> lower_cascade_rcnn(Emitter& e, CascadeRCNNImpl& m, int64_t height, int64_t width) {
  OnnxGraph& g = e.graph();
  const int64_t stride = int64_t{1} << m.opt.feature_maps.back();
  if (height % stride || width % stride)
    fail("export: Cascade R-CNN needs an input size that is a multiple of ", stride,
         " (its last backbone stride), got ", height, "x", width);
  // The map sizes and anchors depend only on the input size: one forward gives them.
  const auto ref = m.forward(torch::zeros({1, 3, height, width}));
  const auto anchors = m.anchors(ref);
  const size_t L = ref.size() / 3;
  CascadeEmitter c(e, g, m, height, width);
  const auto feats = c.fpn(c.backbone());
  TORCH_CHECK(feats.size() == L, "export: the FPN gave ", feats.size(), " levels, the model ", L);
  std::vector<std::string> cls, box, outputs;
  std::vector<std::pair<std::string, std::string>> levels;
  for (size_t k = 0; k < L; ++k) {
    auto& r = *m.rpn_head;
    set_quant_site(r, static_cast<int64_t>(k));  // this level's observers, as the forward uses them
    const auto hidden = e.conv_bn(feats[k], *r.conv, "rpn_head.conv");
    cls.push_back(e.conv_bn(hidden, *r.rpn_cls_logits, "rpn_head.rpn_cls_logits"));
    box.push_back(e.conv_bn(hidden, *r.rpn_bbox_pred, "rpn_head.rpn_bbox_pred"));
    levels.push_back(
        c.level_proposals(cls[k], box[k], anchors[k], ref[L + k], m.opt.min_level + static_cast<int64_t>(k)));
  }
  const auto rois = c.proposals(levels);
  const auto [boxes, scores] = c.stages(rois, feats);
  const auto out = [&](const std::string& t, const std::string& name, int64_t rank) {
    TORCH_CHECK(g.add_node1("Identity", {t}, name) == name, "export: output name '", name, "' is taken");
    g.add_output(name, rank, false);
    outputs.push_back(name);
  };
  using Names = const std::vector<std::string>*;
  for (const auto& [list, prefix] :
       {std::pair<Names, const char*>{&feats, "fpn_p"}, {&cls, "rpn_cls_p"}, {&box, "rpn_bbox_p"}})
    for (size_t k = 0; k < L; ++k)
      out((*list)[k], prefix + std::to_string(m.opt.min_level + static_cast<int64_t>(k)), 4);
  out(rois, "proposals", 2);
  out(boxes, "boxes", 2);
  out(scores, "scores", 2);
  return outputs;
}

}  // namespace compress::onnx_export

namespace compress {

ArchitectureExport cascade_rcnn_architecture() {
  ArchitectureExport a;
  a.arch = "CascadeRCNN";
  a.batch_one = true;
  a.linear_prefix = "bbox_head.";
  a.lower = [](onnx_export::Emitter& e, DetectorImpl& m, const ExportOptions& o) {
    return onnx_export::lower_cascade_rcnn(e, static_cast<CascadeRCNNImpl&>(m), o.height, o.width);
  };
  a.declares_outputs = true;
  a.decoded_counts = {3};
  a.raw_what = "FPN and RPN maps";
  a.decoded_what = "proposals, boxes, scores";
  // The sparse part on the runtime's own inputs: the proposals from its RPN
  // maps, the stages on its proposals.
  a.reference_decoded = [](DetectorImpl& model, const std::vector<torch::Tensor>& ref_raw,
                           const std::vector<torch::Tensor>& runtime, int64_t H, int64_t W) {
    auto& m = static_cast<CascadeRCNNImpl&>(model);
    const auto n_raw = static_cast<std::ptrdiff_t>(ref_raw.size());
    const std::vector<torch::Tensor> raw(runtime.begin(), runtime.begin() + n_raw);
    const auto proposals = m.proposals(raw, m.anchors(raw), H, W, m.opt.test_proposal)[0];
    const auto& rois = runtime[n_raw];
    const auto [boxes, scores] = m.refine(raw, rois, torch::zeros({rois.size(0)}, torch::kLong), H, W);
    return std::vector<torch::Tensor>{proposals, boxes, scores};
  };
  a.decoded_on_runtime_inputs = true;
  a.detections = [](DetectorImpl& model, const std::vector<torch::Tensor>& outputs, size_t n_raw, int64_t H,
                    int64_t W) {
    TORCH_CHECK(outputs.size() == n_raw + 3,
                "onnx_detections: Cascade R-CNN exports end with proposals, boxes, scores");
    const auto &boxes = outputs[outputs.size() - 2], &scores = outputs[outputs.size() - 1];
    const auto& nms = static_cast<CascadeRCNNImpl&>(model).opt.nms;
    return std::vector<ImageDetections>{multiclass_nms(boxes, scores.slice(1, 1), H, W, nms)};  // column 0: background
  };
  a.finish = [](DetectorImpl& model, const std::vector<torch::Tensor>& raw, int64_t H, int64_t W) {
    static_cast<CascadeRCNNImpl&>(model).detect(raw, H, W);  // the graph holds proposals and stages too
  };
  return a;
}

}  // namespace compress
