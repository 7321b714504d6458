#include "compress/export/emitter.h"

#include "compress/quant/fake_quant.h"
#include "train/models/conv_padding.h"
#include "train/util/error.h"

namespace compress::onnx_export {

std::string Emitter::constant(const std::string& name, const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return g_.add_float(name, dims_of(c), c.data_ptr<float>());
}

std::string Emitter::ints(const std::string& name, const std::vector<int64_t>& v) {
  return g_.add_int64(name, {static_cast<int64_t>(v.size())}, v.data());
}

std::string Emitter::slice(const std::string& x, int64_t axis, int64_t a, int64_t b, const std::string& name) {
  return g_.add_node1("Slice",
                      {x, ints(name + ".starts", {a}), ints(name + ".ends", {b}), ints(name + ".axes", {axis})}, name);
}

std::string Emitter::act(const std::string& x, Act a, const std::string& name) {
  switch (a) {
    case Act::None:
      return x;
    case Act::ReLU:
      return g_.add_node1("Relu", {x}, name + ".relu");
    case Act::ReLU6: {
      const float lo = 0.f, hi = 6.f;
      return g_.add_node1("Clip",
                          {x, g_.add_float(name + ".clip_min", {}, &lo), g_.add_float(name + ".clip_max", {}, &hi)},
                          name + ".relu6");
    }
    case Act::HardSigmoid:
      return g_.add_node1("HardSigmoid", {x}, name + ".hsigmoid", {{"alpha", 1.f / 6}, {"beta", 0.5f}});
    case Act::HardSwish: {
      // opset 13 has no HardSwish: x * HardSigmoid(x; 1/6, 1/2).
      const auto s = g_.add_node1("HardSigmoid", {x}, name + ".hsigmoid", {{"alpha", 1.f / 6}, {"beta", 0.5f}});
      return g_.add_node1("Mul", {x, s}, name + ".hswish");
    }
    case Act::LeakyReLU:
      return g_.add_node1("LeakyRelu", {x}, name + ".leaky", {{"alpha", 0.1f}});
  }
  fail("export: unknown activation at '", name, "'");
}

std::string Emitter::qdq(const std::string& x, float step, bool non_negative, const std::string& name,
                         const std::string& what) {
  const float s = std::max(step, 1e-12f);
  const uint8_t zp = non_negative ? 0 : 128;
  const auto sn = g_.add_float(name + "." + what + "_scale", {}, &s);
  const auto zn = g_.add_uint8(name + "." + what + "_zero_point", {}, &zp);
  const auto qx = g_.add_node1("QuantizeLinear", {x, sn, zn}, name + "." + what + "_q");
  return g_.add_node1("DequantizeLinear", {qx, sn, zn}, name + "." + what + "_dq");
}

std::string Emitter::qdq_input(const std::string& x, const quant::ConvQuantImpl& q, const std::string& name) {
  quantized_names_.insert(name);
  quantized_ = static_cast<int64_t>(quantized_names_.size());
  const int64_t k = q.site;
  if (q.plan(k).input_on_grid) return x;
  const float s = q.input_step(k);
  if (!(s > 0))
    fail("export: '", name, "' has an input quantizer that never saw data (step 0): train or calibrate ",
         "it (compress quant) before exporting");
  return qdq(x, s, false, name, "input");
}

std::string Emitter::weight(const torch::Tensor& w_in, const quant::ConvQuantImpl* q, const std::string& name) {
  const auto w = w_in.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  if (!q) return constant(name + ".weight", w);
  const int64_t bits = q->opt.weight_grid_bits();
  const bool per_channel = q->opt.per_channel();
  const auto s = (per_channel ? quant::channel_scales(w, bits) : quant::tensor_scale(w, bits)).clamp_min(1e-12);
  const double qmax = static_cast<double>(quant::qmax_for_bits(bits));
  const auto sv = per_channel ? s.view({-1, 1, 1, 1}) : s.reshape({});
  const auto wq = torch::clamp(torch::round(w / sv), -qmax, qmax).to(torch::kInt8).contiguous();
  const auto wn = g_.add_int8(name + ".weight_int8", dims_of(wq), wq.data_ptr<int8_t>());
  const auto sc = s.to(torch::kFloat32).contiguous();
  const std::vector<int8_t> zps(sc.numel(), 0);
  std::string sn, zn;
  if (per_channel) {
    sn = g_.add_float(name + ".weight_scale", {sc.numel()}, sc.data_ptr<float>());
    zn = g_.add_int8(name + ".weight_zero_point", {sc.numel()}, zps.data());
    return g_.add_node1("DequantizeLinear", {wn, sn, zn}, name + ".weight_dq", {{"axis", int64_t{0}}});
  }
  sn = g_.add_float(name + ".weight_scale", {}, sc.data_ptr<float>());
  zn = g_.add_int8(name + ".weight_zero_point", {}, zps.data());
  return g_.add_node1("DequantizeLinear", {wn, sn, zn}, name + ".weight_dq");
}

std::string Emitter::conv(const std::string& x, const torch::nn::detail::ConvNdOptions<2>& o, const torch::Tensor& w,
                          const torch::Tensor& b, const quant::ConvQuantImpl* q, const std::string& name) {
  const auto k = o.kernel_size();
  const auto s = o.stride();
  const auto* pad = conv_padding_numbers(o);
  if (!pad) fail("export: '", name, "' uses string padding, which the exporter does not express");
  const std::string in = q ? qdq_input(x, *q, name) : x;
  // A module run on several inputs (Cascade R-CNN's RPN head on every FPN
  // level) stores its float weights once. int8 weights are written per call
  // site: ONNX Runtime's s8 -> u8 weight rewrite on x86 CPUs without VNNI
  // (session.x64quantprecision, which exact int8 needs there) renames a
  // shared initializer once per reader and fails at load on the second
  // ("Attempt to replace the existing tensor"). Costs (levels - 1) int8
  // copies of the RPN conv weights.
  std::vector<std::string> inputs = {in};
  if (q) {
    inputs.push_back(weight(w, q, name));
  } else {
    auto [it, fresh] = params_.try_emplace(name);
    if (fresh) {
      it->second.push_back(weight(w, nullptr, name));
      if (b.defined()) it->second.push_back(constant(name + ".bias", b));
    }
    inputs.insert(inputs.end(), it->second.begin(), it->second.end());
  }
  // An int8 conv's bias is int32 at step input step x weight step (per output
  // channel), as int8 kernels add it to their int32 sums; per call site, since
  // the input step is the site's.
  if (b.defined() && q) inputs.push_back(int32_bias(b, w, *q, name));
  return g_.add_node1("Conv", inputs, name,
                      {{"kernel_shape", std::vector<int64_t>{k->at(0), k->at(1)}},
                       {"strides", std::vector<int64_t>{s->at(0), s->at(1)}},
                       {"pads", std::vector<int64_t>{(*pad)->at(0), (*pad)->at(1), (*pad)->at(0), (*pad)->at(1)}},
                       {"dilations", std::vector<int64_t>{o.dilation()->at(0), o.dilation()->at(1)}},
                       {"group", o.groups()}});
}

std::string Emitter::int32_bias(const torch::Tensor& b_in, const torch::Tensor& w_in, const quant::ConvQuantImpl& q,
                                const std::string& name) {
  const auto w = w_in.detach().to(torch::kCPU, torch::kFloat32);
  const bool per_channel = q.opt.per_channel();
  const auto ws = per_channel ? quant::channel_scales(w, q.opt.weight_grid_bits())
                              : quant::tensor_scale(w, q.opt.weight_grid_bits());
  if (!(q.input_step(q.site) > 0))
    fail("export: '", name, "' has an input step of 0 (never saw data): train or calibrate it before exporting");
  auto step = q.bias_step(ws, q.site).cpu();  // as ConvQuantImpl::bias rounds it
  if (step.numel() == 1) step = step.expand({w.size(0)});
  step = step.contiguous();
  const auto bq = torch::round(b_in.detach().to(torch::kCPU, torch::kFloat32) / step)
                      .clamp(-2147483648.0, 2147483647.0)
                      .to(torch::kInt32)
                      .contiguous();
  const auto bn = g_.add_int32(name + ".bias_int32", {bq.numel()}, bq.data_ptr<int32_t>());
  const auto sn = g_.add_float(name + ".bias_scale", {step.numel()}, step.data_ptr<float>());
  // No zero point: DequantizeLinear's default is 0.
  return g_.add_node1("DequantizeLinear", {bn, sn}, name + ".bias_dq", {{"axis", int64_t{0}}});
}

const quant::ConvQuantImpl* Emitter::quant_of(const std::shared_ptr<ConvQuantHook>& h, const std::string& path) {
  if (!h) return nullptr;
  const auto* q = dynamic_cast<const quant::ConvQuantImpl*>(h.get());
  if (!q) fail("export: '", path, "' has a quantizer the exporter does not know");
  return q;
}

std::string Emitter::conv_bn(const std::string& x, ConvBNLayerImpl& l, const std::string& path) {
  const auto [w, b] = l.folded_weight_bias();  // BN's running statistics, as in eval
  const auto* q = quant_of(l.conv_quant, path + ".conv");
  const auto y = conv(x, l.conv->options, w, b, q, path + ".conv");
  return conv_output(y, l.act, q, path + ".conv", path);
}

std::string Emitter::conv_output(const std::string& y, Act a, const quant::ConvQuantImpl* q,
                                 const std::string& conv_name, const std::string& act_name) {
  if (!q || !q->plan(q->site).round_output) return act(y, a, act_name);
  const float out_step = q->output_step(q->site);
  if (!(out_step > 0))
    fail("export: '", conv_name, "' has an output quantizer that never saw data (step 0): ",
         "train or calibrate it (compress quant) before exporting");
  if (quant::rounds_after_act(a, q->opt)) {
    // ReLU6 goes out as Relu: the uint8 range (255 steps of at most 6/255, the
    // observed max of a ReLU6 output being at most 6) saturates by 6 anyway,
    // so the result is the same, and ONNX Runtime always folds a Relu before a
    // zero-point-0 Q, while a Clip it keeps when 255 * step rounds above 6;
    // it then fuses that Conv twice (int8 and Conv + Clip) into a model it
    // rejects ("two nodes with same node name").
    const Act a2 = a == Act::ReLU6 ? Act::ReLU : a;
    return qdq(act(y, a2, act_name), out_step, quant::non_negative_act(a), conv_name, "output");
  }
  const auto yq = qdq(y, out_step, false, conv_name, "output");
  return a == Act::HardSwish ? int8_hard_swish(yq, act_name) : act(yq, a, act_name);
}

std::string Emitter::int8_hard_swish(const std::string& x, const std::string& name) {
  const float three = 3.f, s6 = 6.f / 255, s1 = 1.f / 255;
  const uint8_t one = 1, zero = 0;
  const auto zp = g_.add_uint8(name + ".hswish_zero_point", {}, &zero);
  const auto c3 = g_.add_node1(
      "DequantizeLinear",
      {g_.add_uint8(name + ".hswish_three_q", {}, &one), g_.add_float(name + ".hswish_three_scale", {}, &three), zp},
      name + ".hswish_three");
  const auto sum = g_.add_node1("Add", {x, c3}, name + ".hswish_add");
  const auto q = g_.add_node1("QuantizeLinear", {sum, g_.add_float(name + ".hswish_relu6_scale", {}, &s6), zp},
                              name + ".hswish_relu6_q");
  const auto hs = g_.add_node1("DequantizeLinear", {q, g_.add_float(name + ".hswish_hsigmoid_scale", {}, &s1), zp},
                               name + ".hswish_hsigmoid");
  return g_.add_node1("Mul", {x, hs}, name + ".hswish");
}

}  // namespace compress::onnx_export
