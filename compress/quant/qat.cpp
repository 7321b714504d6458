#include "compress/quant/qat.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <functional>
#include <set>

#include "compress/quant/conv_quant.h"
#include "train/config/suggest.h"
#include "train/models/layers.h"
#include "train/util/error.h"

namespace compress::quant {
namespace {

// Calls fn(path, layer) for every ConvBNLayer and fn(path, se) for every SEBlock.
void for_each_conv_owner(torch::nn::Module& model,
                         const std::function<void(const std::string&, ConvBNLayerImpl*)>& conv_bn,
                         const std::function<void(const std::string&, SEBlockImpl*)>& se) {
  for (const auto& item : model.named_modules()) {
    torch::nn::Module* m = item.value().get();
    if (auto* c = dynamic_cast<ConvBNLayerImpl*>(m))
      conv_bn(item.key(), c);
    else if (auto* s = dynamic_cast<SEBlockImpl*>(m))
      se(item.key(), s);
  }
}

std::string join_path(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

}  // namespace

bool matches(const std::string& path, const std::vector<std::string>& patterns, std::set<std::string>* used) {
  bool hit = false;
  for (const auto& p : patterns)
    if (path.find(p) != std::string::npos) {
      hit = true;
      if (used) used->insert(p);
    }
  return hit;
}

std::vector<std::string> quantizable_convs(torch::nn::Module& model) {
  std::vector<std::string> out;
  for_each_conv_owner(
      model, [&](const std::string& p, ConvBNLayerImpl*) { out.push_back(join_path(p, "conv")); },
      [&](const std::string& p, SEBlockImpl*) {
        out.push_back(join_path(p, "conv1"));
        out.push_back(join_path(p, "conv2"));
      });
  return out;
}

QuantReport apply_qat(torch::nn::Module& model, const QuantOptions& o) {
  return apply_qat(model, o, default_plan_input(model));
}

QuantReport apply_qat(torch::nn::Module& model, const QuantOptions& o, const PlanInput& plan_input) {
  validate(o);
  if (is_quantized(model)) fail("the model is already quantized");
  const auto all = quantizable_convs(model);
  for (const auto& p : o.not_quant_pattern)
    if (p.empty()) fail("not_quant_pattern: an empty pattern matches every conv (name a layer, e.g. res_conv1)");
  std::set<std::string> used;
  for (const auto& path : all) matches(path, o.not_quant_pattern, &used);
  for (const auto& p : o.not_quant_pattern)
    if (!used.count(p))
      fail("--not_quant_pattern '", p, "' matches no layer", did_you_mean(p, all),
           " (patterns are substrings of conv paths such as '", all.empty() ? "" : all.front(), "')");
  QuantReport r;
  auto attach = [&](torch::nn::Module& owner, const std::string& path, const std::string& name, int64_t out,
                    std::shared_ptr<ConvQuantHook>& slot) {
    if (matches(path, o.not_quant_pattern, nullptr)) {
      r.skipped.push_back(path);
      return;
    }
    slot = owner.register_module(name + "_quant", std::make_shared<ConvQuantImpl>(o, out));
    r.quantized.push_back(path);
  };
  for_each_conv_owner(
      model,
      [&](const std::string& p, ConvBNLayerImpl* c) {
        attach(*c, join_path(p, "conv"), "conv", c->conv->options.out_channels(), c->conv_quant);
      },
      [&](const std::string& p, SEBlockImpl* s) {
        attach(*s, join_path(p, "conv1"), "conv1", s->conv1->options.out_channels(), s->conv1_quant);
        attach(*s, join_path(p, "conv2"), "conv2", s->conv2->options.out_channels(), s->conv2_quant);
      });
  if (r.quantized.empty())
    fail("quantization would quantize no conv: --not_quant_pattern / quant.not_quant_pattern (",
         o.not_quant_pattern.size(), " patterns) keep all ", r.skipped.size(), " convs float");
  // New buffers must live where the weights do.
  if (!model.parameters().empty()) model.to(model.parameters()[0].device());
  plan_quantization(model, plan_input);
  return r;
}

bool is_quantized(torch::nn::Module& model) {
  for (const auto& m : model.modules())
    if (dynamic_cast<ConvQuantImpl*>(m.get())) return true;
  return false;
}

void set_bn_frozen(torch::nn::Module& model, bool frozen) {
  for (const auto& m : model.modules())
    if (auto* c = dynamic_cast<ConvBNLayerImpl*>(m.get())) c->bn_frozen = frozen;
}

void set_calibrating(torch::nn::Module& model, bool on) {
  for (const auto& m : model.modules())
    if (auto* q = dynamic_cast<ConvQuantImpl*>(m.get())) q->calibrating = on;
}

void set_conv_float(torch::nn::Module& model, const std::string& conv_path, bool keep_float) {
  bool found = false;
  auto toggle = [&](torch::nn::Module& owner, const std::string& path, const std::string& name,
                    std::shared_ptr<ConvQuantHook>& slot) {
    if (path != conv_path) return;
    found = true;
    const auto children = owner.named_children();
    const auto* q = children.find(name + "_quant");
    if (!q) fail("'", conv_path, "' is not quantized (a --not_quant_pattern kept it float)");
    slot = keep_float ? nullptr : std::dynamic_pointer_cast<ConvQuantHook>(*q);
  };
  for_each_conv_owner(
      model, [&](const std::string& p, ConvBNLayerImpl* c) { toggle(*c, join_path(p, "conv"), "conv", c->conv_quant); },
      [&](const std::string& p, SEBlockImpl* s) {
        toggle(*s, join_path(p, "conv1"), "conv1", s->conv1_quant);
        toggle(*s, join_path(p, "conv2"), "conv2", s->conv2_quant);
      });
  if (!found) fail("no conv '", conv_path, "' in the model", did_you_mean(conv_path, quantizable_convs(model)));
  plan_quantization(model, default_plan_input(model));
}

}  // namespace compress::quant
