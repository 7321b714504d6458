// SSDLite's lowering: the MobileNetV3 backbone, the extra blocks, the
// separable loc / conf heads flattened to (N, A, 4) and (N, A, C + 1), the
// priors as a constant; with --with_postprocess the centre-size decoding and
// the softmax. Its entry in the architecture table.
#include <torch/torch.h>

#include "compress/export/architectures.h"
#include "compress/export/emitter.h"
#include "compress/export/lower_blocks.h"
#include "train/models/ssd/box_coder.h"
#include "train/models/ssdlite.h"

namespace compress {
namespace {

using onnx_export::Attr;
using onnx_export::Emitter;
using onnx_export::OnnxGraph;

std::vector<std::string> lower_ssdlite(Emitter& e, SSDLiteImpl& m, const ExportOptions& o) {
  using namespace onnx_export;
  OnnxGraph& g = e.graph();
  const int64_t C = m.num_classes;
  std::vector<std::string> feats = mobilenet(e, "image", *m.backbone, false);
  auto x = feats.back();
  for (size_t i = 0; i < m.extra_blocks->size(); ++i) {
    x = extra_block(e, x, *m.extra_blocks[i]->as<ExtraBlock>(), "extra_blocks." + std::to_string(i));
    feats.push_back(x);
  }
  const auto perm = Attr{"perm", std::vector<int64_t>{0, 2, 3, 1}};
  std::vector<std::string> locs, confs;
  const auto loc_shape = e.ints("loc_shape", {0, -1, 4}), conf_shape = e.ints("conf_shape", {0, -1, C + 1});
  for (size_t i = 0; i < feats.size(); ++i) {
    const std::string li = "loc." + std::to_string(i), ci = "conf." + std::to_string(i);
    const auto l = separable_head(e, feats[i], *m.loc[i]->as<SeparableHead>(), li);
    const auto c = separable_head(e, feats[i], *m.conf[i]->as<SeparableHead>(), ci);
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
  const auto priors = m.forward(torch::zeros({1, 3, o.height, o.width}))[2];
  g.add_node1("Identity", {e.constant("priors_const", priors)}, "priors");
  std::vector<std::string> outputs = {"loc", "conf", "priors"};
  if (o.with_postprocess) {
    // Centre-size decoding with variances 0.1 / 0.2, in input pixels.
    const auto scale = torch::tensor({float(o.width), float(o.height)});
    const auto pwh = ((priors.slice(1, 2, 4) - priors.slice(1, 0, 2)) * scale).unsqueeze(0);  // (1, A, 2)
    const auto pc = ((priors.slice(1, 2, 4) + priors.slice(1, 0, 2)) * 0.5 * scale).unsqueeze(0);
    const float v01 = 0.1f, v02 = 0.2f, half = 0.5f;
    const auto pwh_n = e.constant("prior_wh", pwh), pc_n = e.constant("prior_centre", pc);
    const auto cxy = g.add_node1(
        "Add",
        {g.add_node1(
             "Mul",
             {g.add_node1("Mul", {e.slice(loc, 2, 0, 2, "dxy"), g.add_float("var_xy", {}, &v01)}, "dxy_v"), pwh_n},
             "dxy_p"),
         pc_n},
        "centre");
    const auto wh = g.add_node1(
        "Mul",
        {g.add_node1("Exp",
                     {g.add_node1("Mul", {e.slice(loc, 2, 2, 4, "dwh"), g.add_float("var_wh", {}, &v02)}, "dwh_v")},
                     "dwh_e"),
         pwh_n},
        "size");
    const auto hw = g.add_node1("Mul", {wh, g.add_float("half", {}, &half)}, "half_size");
    g.add_node1("Concat", {g.add_node1("Sub", {cxy, hw}, "xy1"), g.add_node1("Add", {cxy, hw}, "xy2")}, "boxes",
                {{"axis", int64_t{2}}});
    g.add_node1("Softmax", {conf}, "scores", {{"axis", int64_t{-1}}});
    outputs.push_back("boxes");
    outputs.push_back("scores");
  }
  return outputs;
}

}  // namespace

ArchitectureExport ssdlite_architecture() {
  ArchitectureExport a;
  a.arch = "SSD";
  a.lower = [](Emitter& e, DetectorImpl& m, const ExportOptions& o) {
    return lower_ssdlite(e, static_cast<SSDLiteImpl&>(m), o);
  };
  a.output_rank = [](const std::string& name) {
    return name == "priors" ? std::pair<int64_t, bool>{2, false} : std::pair<int64_t, bool>{3, true};
  };
  a.decoded_counts = {0, 2};
  a.decoded_what = "boxes, scores";
  a.reference_decoded = [](DetectorImpl&, const std::vector<torch::Tensor>& ref, const std::vector<torch::Tensor>&,
                           int64_t H, int64_t W) {
    const auto scale = torch::tensor({float(W), float(H), float(W), float(H)});
    return std::vector<torch::Tensor>{decode_boxes(ref[0], ref[2].unsqueeze(0)) * scale, torch::softmax(ref[1], -1)};
  };
  return a;
}

}  // namespace compress
