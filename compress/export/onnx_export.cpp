#include "compress/export/onnx_export.h"

#include <torch/torch.h>

#include "compress/export/cascade_onnx.h"
#include "compress/export/emitter.h"
#include "train/models/cascade_rcnn.h"

namespace compress {
namespace {

using onnx_export::Attr;
using onnx_export::Emitter;
using onnx_export::OnnxGraph;

// linear_prefix: where fully connected layers are expected (Cascade R-CNN's box heads).
void check_supported(torch::nn::Module& model, const std::string& linear_prefix = "") {
  // Every leaf with parameters must belong to a module the emitter walks.
  for (const auto& item : model.named_modules()) {
    auto* m = item.value().get();
    if (!m->children().empty() || (m->parameters(false).empty() && m->buffers(false).empty())) continue;
    if (dynamic_cast<torch::nn::Conv2dImpl*>(m) || dynamic_cast<torch::nn::BatchNorm2dImpl*>(m) ||
        dynamic_cast<quant::ConvQuantImpl*>(m))
      continue;
    if (dynamic_cast<torch::nn::LinearImpl*>(m) && !linear_prefix.empty() && item.key().rfind(linear_prefix, 0) == 0)
      continue;
    fail("export: module '", item.key(), "' (", m->name(), ") has no ONNX mapping");
  }
  // What the QDQ graph cannot hold exactly is refused, never written wrong:
  // activations are uint8 tensors (8 bits), weights int8 (at most 8 bits; fewer
  // bits are a subset of the int8 grid, exact).
  for (const auto& item : model.named_modules()) {
    const auto* q = dynamic_cast<const quant::ConvQuantImpl*>(item.value().get());
    if (!q) continue;
    if (q->opt.activation_bits != 8)
      fail("export: quant.activation_bits = ", q->opt.activation_bits, " ('", item.key(),
           "'): the ONNX QDQ export writes 8-bit activations only; train with quant.activation_bits=8");
    if (q->opt.weight_bits > 8)
      fail("export: quant.weight_bits = ", q->opt.weight_bits, " ('", item.key(),
           "'): ONNX int8 weights hold at most 8 bits; train with quant.weight_bits <= 8");
    if (q->opt.activation_quantize_type == "abs_max")
      fail("export: quant.activation_quantize_type = abs_max ('", item.key(),
           "') computes each batch's own scale, which a shipped model cannot; use moving_average_abs_max or "
           "range_abs_max");
  }
}

}  // namespace

std::vector<std::string> export_block_onnx(torch::nn::Module& block, const std::string& path,
                                           const std::vector<int64_t>& chw) {
  if (chw.size() != 3) fail("export: a block input is (C, H, W), got ", chw.size(), " dims");
  torch::NoGradGuard no_grad;
  const bool was_training = block.is_training();
  block.eval();
  block.to(torch::kCPU);
  check_supported(block);
  OnnxGraph g("block", 13);
  Emitter e(g);
  g.add_input("x", {-1, chw[0], chw[1], chw[2]}, {"N"});
  std::vector<std::pair<std::string, std::string>> outs;  // {tensor, output name}
  if (auto* c = dynamic_cast<ConvBNLayerImpl*>(&block)) {
    outs.push_back({e.conv_bn("x", *c, "block"), "y"});
  } else if (auto* s = dynamic_cast<SEBlockImpl*>(&block)) {
    outs.push_back({e.se("x", *s, "block"), "y"});
  } else if (auto* u = dynamic_cast<ResidualUnitImpl*>(&block)) {
    outs.push_back({e.residual_unit("x", *u, "block").second, "y"});
  } else if (auto* b = dynamic_cast<BasicBlockImpl*>(&block)) {
    outs.push_back({e.basic_block("x", *b, "block"), "y"});
  } else if (auto* x = dynamic_cast<ExtraBlockImpl*>(&block)) {
    outs.push_back({e.extra_block("x", *x, "block"), "y"});
  } else if (auto* h = dynamic_cast<SeparableHeadImpl*>(&block)) {
    outs.push_back({e.separable_head("x", *h, "block"), "y"});
  } else if (auto* y = dynamic_cast<YoloDetectionBlockImpl*>(&block)) {
    const auto [route, tip] = e.yolo_block("x", *y, "block");
    outs = {{route, "route"}, {tip, "tip"}};
  } else {
    fail("export: block '", block.name(), "' has no ONNX mapping");
  }
  std::vector<std::string> names;
  for (const auto& [t, n] : outs) {
    g.add_node1("Identity", {t}, n);
    g.add_output(n, 4, true);
    names.push_back(n);
  }
  try {
    g.save(path);
  } catch (const std::exception& ex) {
    fail(ex.what());
  }
  if (was_training) block.train();
  return names;
}

ExportResult export_onnx(DetectorImpl& model, const std::string& path, const ExportOptions& o) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  model.to(torch::kCPU);
  auto* cascade = dynamic_cast<CascadeRCNNImpl*>(&model);
  check_supported(model, cascade ? "bbox_head." : "");
  OnnxGraph g(model.arch(), 13);
  Emitter e(g);
  ExportResult r;
  const int64_t C = model.num_classes;
  // Cascade R-CNN exports with batch 1: its proposal count is per image.
  if (cascade)
    g.add_input("image", {1, 3, o.height, o.width}, {});
  else
    g.add_input("image", {-1, 3, o.height, o.width}, {"N"});
  if (cascade) {
    r.outputs = onnx_export::emit_cascade_rcnn(e, g, *cascade, o.height, o.width);  // declares its outputs
  } else if (auto* ssd = dynamic_cast<SSDLiteImpl*>(&model)) {
    std::vector<std::string> feats = e.mobilenet("image", *ssd->backbone, false);
    auto x = feats.back();
    for (size_t i = 0; i < ssd->extra_blocks->size(); ++i) {
      x = e.extra_block(x, *ssd->extra_blocks[i]->as<ExtraBlock>(), "extra_blocks." + std::to_string(i));
      feats.push_back(x);
    }
    const auto perm = Attr{"perm", std::vector<int64_t>{0, 2, 3, 1}};
    std::vector<std::string> locs, confs;
    const auto loc_shape = e.ints("loc_shape", {0, -1, 4}), conf_shape = e.ints("conf_shape", {0, -1, C + 1});
    for (size_t i = 0; i < feats.size(); ++i) {
      const std::string li = "loc." + std::to_string(i), ci = "conf." + std::to_string(i);
      const auto l = e.separable_head(feats[i], *ssd->loc[i]->as<SeparableHead>(), li);
      const auto c = e.separable_head(feats[i], *ssd->conf[i]->as<SeparableHead>(), ci);
      locs.push_back(
          g.add_node1("Reshape", {g.add_node1("Transpose", {l}, li + ".nhwc", {perm}), loc_shape}, li + ".flat"));
      confs.push_back(
          g.add_node1("Reshape", {g.add_node1("Transpose", {c}, ci + ".nhwc", {perm}), conf_shape}, ci + ".flat"));
    }
    const auto loc = g.add_node1("Concat", locs, "loc_cat", {{"axis", int64_t{1}}});
    const auto conf = g.add_node1("Concat", confs, "conf_cat", {{"axis", int64_t{1}}});
    g.add_node1("Identity", {loc}, "loc");
    g.add_node1("Identity", {conf}, "conf");
    // The priors depend only on the input size: one forward at that size gives them.
    const auto priors = ssd->forward(torch::zeros({1, 3, o.height, o.width}))[2];
    g.add_node1("Identity", {e.constant("priors_const", priors)}, "priors");
    r.outputs = {"loc", "conf", "priors"};
    if (o.with_postprocess) {
      // Centre-size decoding with variances 0.1 / 0.2, in input pixels.
      const auto scale = torch::tensor({float(o.width), float(o.height)});
      const auto pwh = ((priors.slice(1, 2, 4) - priors.slice(1, 0, 2)) * scale).unsqueeze(0);  // (1, A, 2)
      const auto pc = ((priors.slice(1, 2, 4) + priors.slice(1, 0, 2)) * 0.5 * scale).unsqueeze(0);
      auto slice = [&](const std::string& x, int64_t a, int64_t b, const std::string& n) {
        return g.add_node1("Slice", {x, e.ints(n + ".starts", {a}), e.ints(n + ".ends", {b}), e.ints(n + ".axes", {2})},
                           n);
      };
      const float v01 = 0.1f, v02 = 0.2f, half = 0.5f;
      const auto pwh_n = e.constant("prior_wh", pwh), pc_n = e.constant("prior_centre", pc);
      const auto cxy = g.add_node1(
          "Add",
          {g.add_node1("Mul",
                       {g.add_node1("Mul", {slice(loc, 0, 2, "dxy"), g.add_float("var_xy", {}, &v01)}, "dxy_v"), pwh_n},
                       "dxy_p"),
           pc_n},
          "centre");
      const auto wh = g.add_node1(
          "Mul",
          {g.add_node1("Exp", {g.add_node1("Mul", {slice(loc, 2, 4, "dwh"), g.add_float("var_wh", {}, &v02)}, "dwh_v")},
                       "dwh_e"),
           pwh_n},
          "size");
      const auto hw = g.add_node1("Mul", {wh, g.add_float("half", {}, &half)}, "half_size");
      g.add_node1("Concat", {g.add_node1("Sub", {cxy, hw}, "xy1"), g.add_node1("Add", {cxy, hw}, "xy2")}, "boxes",
                  {{"axis", int64_t{2}}});
      g.add_node1("Softmax", {conf}, "scores", {{"axis", int64_t{-1}}});
      r.outputs.push_back("boxes");
      r.outputs.push_back("scores");
    }
  } else if (auto* yolo = dynamic_cast<YOLOv3Impl*>(&model)) {
    if (o.height % 32 || o.width % 32)
      fail("export: YOLOv3 needs an input size that is a multiple of 32, got ", o.height, "x", o.width);
    const auto feats =
        yolo->mobilenet ? e.mobilenet("image", *yolo->mobilenet, true) : e.resnet("image", *yolo->resnet);
    std::string route;
    const char* names[3] = {"out_s32", "out_s16", "out_s8"};
    for (int64_t i = 0; i < 3; ++i) {
      std::string x = feats[2 - i];
      const std::string b = "yolo_block." + std::to_string(i);
      if (i > 0) {
        const float sc[4] = {1, 1, 2, 2};
        const auto up = g.add_node1("Resize", {route, "", g.add_float(b + ".up_scales", {4}, sc)}, b + ".upsample",
                                    {{"mode", std::string("nearest")},
                                     {"coordinate_transformation_mode", std::string("asymmetric")},
                                     {"nearest_mode", std::string("floor")}});
        x = g.add_node1("Concat", {up, x}, b + ".concat", {{"axis", int64_t{1}}});
      }
      const auto [r2, tip] = e.yolo_block(x, *yolo->yolo_block[i]->as<YoloDetectionBlock>(), b);
      const auto out = e.conv_bn(tip, *yolo->yolo_output[i]->as<ConvBNLayer>(), "yolo_output." + std::to_string(i));
      g.add_node1("Identity", {out}, names[i]);
      r.outputs.push_back(names[i]);
      if (i < 2)
        route = e.conv_bn(r2, *yolo->yolo_transition[i]->as<ConvBNLayer>(), "yolo_transition." + std::to_string(i));
    }
    if (o.with_postprocess) {
      // sigmoid(xy) + cell, times the stride; exp(wh) times the anchor; boxes xyxy in
      // pixels and scores sigmoid(obj) * sigmoid(cls), in YOLOv3Impl::decode's order.
      std::vector<std::string> all_boxes, all_scores;
      const auto perm = Attr{"perm", std::vector<int64_t>{0, 1, 3, 4, 2}};
      for (int64_t i = 0; i < 3; ++i) {
        const int64_t s = int64_t{32} >> i, H = o.height / s, W = o.width / s;
        const auto& mask = yolo->opt.loss.masks[i];
        const int64_t A = static_cast<int64_t>(mask.size());
        const std::string p = std::string("decode_s") + std::to_string(s);
        auto slice = [&](const std::string& x, int64_t a, int64_t b, const std::string& n) {
          return g.add_node1("Slice",
                             {x, e.ints(n + ".starts", {a}), e.ints(n + ".ends", {b}), e.ints(n + ".axes", {2})}, n);
        };
        const auto v = g.add_node1("Reshape", {names[i], e.ints(p + ".shape", {0, A, 5 + C, H, W})}, p + ".v");
        const auto gx = torch::arange(W, torch::kFloat32).view({1, 1, 1, 1, W}).expand({1, 1, 1, H, W});
        const auto gy = torch::arange(H, torch::kFloat32).view({1, 1, 1, H, 1}).expand({1, 1, 1, H, W});
        const auto grid = e.constant(p + ".grid", torch::cat({gx, gy}, 2));  // (1, 1, 2, H, W)
        const auto stride =
            e.constant(p + ".stride", torch::tensor({float(o.width) / W, float(o.height) / H}).view({1, 1, 2, 1, 1}));
        std::vector<float> aw;
        for (int64_t k : mask)
          aw.push_back(float(yolo->opt.loss.anchors[k].first)), aw.push_back(float(yolo->opt.loss.anchors[k].second));
        const auto anchors = e.constant(p + ".anchors", torch::tensor(aw).view({1, A, 2, 1, 1}));
        const auto xy = g.add_node1(
            "Mul",
            {g.add_node1("Add", {g.add_node1("Sigmoid", {slice(v, 0, 2, p + ".txy")}, p + ".sxy"), grid}, p + ".cell"),
             stride},
            p + ".xy");
        const auto wh =
            g.add_node1("Mul", {g.add_node1("Exp", {slice(v, 2, 4, p + ".twh")}, p + ".ewh"), anchors}, p + ".wh");
        const float half = 0.5f;
        const auto hw = g.add_node1("Mul", {wh, g.add_float(p + ".half", {}, &half)}, p + ".half_wh");
        const auto b =
            g.add_node1("Concat", {g.add_node1("Sub", {xy, hw}, p + ".xy1"), g.add_node1("Add", {xy, hw}, p + ".xy2")},
                        p + ".xyxy", {{"axis", int64_t{2}}});
        all_boxes.push_back(g.add_node1(
            "Reshape", {g.add_node1("Transpose", {b}, p + ".boxes_nhwc", {perm}), e.ints(p + ".bshape", {0, -1, 4})},
            p + ".boxes"));
        const auto sc = g.add_node1("Mul",
                                    {g.add_node1("Sigmoid", {slice(v, 4, 5, p + ".obj")}, p + ".sobj"),
                                     g.add_node1("Sigmoid", {slice(v, 5, 5 + C, p + ".cls")}, p + ".scls")},
                                    p + ".sc");
        all_scores.push_back(g.add_node1(
            "Reshape", {g.add_node1("Transpose", {sc}, p + ".scores_nhwc", {perm}), e.ints(p + ".sshape", {0, -1, C})},
            p + ".scores"));
      }
      g.add_node1("Concat", all_boxes, "boxes", {{"axis", int64_t{1}}});
      g.add_node1("Concat", all_scores, "scores", {{"axis", int64_t{1}}});
      r.outputs.push_back("boxes");
      r.outputs.push_back("scores");
    }
  } else {
    fail("export: architecture '", model.arch(), "' has no ONNX mapping");
  }
  if (!cascade)
    for (const auto& n : r.outputs)
      g.add_output(n, n == "priors" ? 2 : n.rfind("out_s", 0) == 0 ? 4 : 3, n != "priors");
  g.set_doc("compress export: " + model.arch() + ", " + std::to_string(o.height) + "x" + std::to_string(o.width));
  try {
    g.save(path);
  } catch (const std::exception& ex) {
    fail(ex.what());
  }
  r.nodes = g.num_nodes();
  r.quantized_convs = e.quantized_;
  if (was_training) model.train();
  return r;
}

}  // namespace compress
