#include "compress/export/onnx_export.h"

#include <torch/torch.h>

#include "compress/export/architectures.h"
#include "compress/export/emitter.h"
#include "compress/export/lower_blocks.h"
#include "compress/quant/conv_quant.h"
#include "train/models/mobilenet_v3.h"
#include "train/models/resnet.h"
#include "train/models/ssdlite.h"
#include "train/models/yolov3.h"
#include "train/util/error.h"

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
    if (q->opt.activation_quantize_type == quant::ActivationQuantizeType::AbsMax)
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
    outs.push_back({se(e, "x", *s, "block"), "y"});
  } else if (auto* u = dynamic_cast<ResidualUnitImpl*>(&block)) {
    outs.push_back({residual_unit(e, "x", *u, "block").second, "y"});
  } else if (auto* b = dynamic_cast<BasicBlockImpl*>(&block)) {
    outs.push_back({basic_block(e, "x", *b, "block"), "y"});
  } else if (auto* x = dynamic_cast<ExtraBlockImpl*>(&block)) {
    outs.push_back({extra_block(e, "x", *x, "block"), "y"});
  } else if (auto* h = dynamic_cast<SeparableHeadImpl*>(&block)) {
    outs.push_back({separable_head(e, "x", *h, "block"), "y"});
  } else if (auto* y = dynamic_cast<YoloDetectionBlockImpl*>(&block)) {
    const auto [route, tip] = yolo_block(e, "x", *y, "block");
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
  const ArchitectureExport& arch = architecture_export(model);
  check_supported(model, arch.linear_prefix);
  OnnxGraph g(model.arch(), 13);
  Emitter e(g);
  if (arch.batch_one)
    g.add_input("image", {1, 3, o.height, o.width}, {});
  else
    g.add_input("image", {-1, 3, o.height, o.width}, {"N"});
  ExportResult r;
  r.outputs = arch.lower(e, model, o);
  if (!arch.declares_outputs)
    for (const auto& n : r.outputs) {
      const auto [rank, symbolic_batch] = arch.output_rank(n);
      g.add_output(n, rank, symbolic_batch);
    }
  g.set_doc("compress export: " + model.arch() + ", " + std::to_string(o.height) + "x" + std::to_string(o.width));
  try {
    g.save(path);
  } catch (const std::exception& ex) {
    fail(ex.what());
  }
  r.nodes = g.num_nodes();
  r.quantized_convs = e.quantized_convs();
  if (was_training) model.train();
  return r;
}

}  // namespace compress
