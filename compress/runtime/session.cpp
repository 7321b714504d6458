#include "compress/runtime/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>

#include "compress/runtime/activation_int8.h"
#include "compress/runtime/binary_int8.h"
#include "compress/runtime/conv.h"
#include "compress/runtime/model.h"
#include "compress/runtime/ops.h"
#include "compress/runtime/value.h"

namespace compress::runtime {

namespace {

struct Step {
  const Node* node = nullptr;             // a generic node, or the conv the kernel came from
  std::unique_ptr<ConvKernel> conv;       // a fused conv
  std::unique_ptr<Int8Activation> act;    // an int8 h-swish or LeakyRelu
  std::unique_ptr<QuantizedBinary> qbin;  // Add / Mul with the QuantizeLinear after it
  std::vector<int> in;                    // slots read (-1: omitted)
  std::vector<int> out;                   // slots written
  std::string text;
  // Nothing reads what it writes (the DequantizeLinear in front of an int8
  // conv, which reads the codes): run only when a caller asks for tensors.
  bool unread = false;
};

// A conv's profile row: precision and shape class (pointwise, depthwise, dense).
std::string conv_kind(const ConvSpec& s) {
  std::string k = std::string("Conv ") + (s.int8 ? "int8" : "f32");
  if (s.groups > 1 && s.groups == s.in_channels) k += " dw";
  return k + " " + std::to_string(s.kh) + "x" + std::to_string(s.kw);
}

}  // namespace

struct Session::Impl {
  Model model;
  int threads = 1;
  std::map<std::string, int> slot_of;
  std::vector<ValuePtr> constants;  // per slot: the constant's value, or null
  std::vector<Step> steps;
  std::vector<int> last_use;  // per slot: the last step that reads it
  int input_slot = -1;
  std::vector<int> output_slots;
  std::set<std::string> fused_away;              // tensors no step writes (inside a fused conv)
  std::map<std::string, int> dequantized_alias;  // a fused DequantizeLinear's output -> the codes' slot
  PlanSummary summary;
  bool profiling = false;
  bool profile_steps = false;  // one row per step (its describe() text) rather than per kind
  std::map<std::string, std::pair<double, int64_t>> profile;  // kernel kind -> ms, steps run

  int slot(const std::string& name) {
    auto [it, fresh] = slot_of.try_emplace(name, static_cast<int>(constants.size()));
    if (fresh) constants.push_back(nullptr);
    return it->second;
  }
  [[noreturn]] void bad(const Node& n, const std::string& why) const {
    throw std::runtime_error("runtime: '" + model.path + "': node '" + n.name + "' (" + n.op + "): " + why);
  }
  void plan();
  // A QuantizeLinear a fused kernel can write itself: a constant positive
  // per-tensor scale and a zero point stored as codes (uint8 0, uint8 128 or
  // int8 0; absent = uint8 0). Returns {scale, zp in Value's terms} or nothing.
  std::optional<std::pair<float, int32_t>> codes_grid(const Node* q) const;
  template <class OnlyReader, class Readers, class ConstFloats, class IndexOf>
  void plan_int8_activation(const std::string& codes, const OnlyReader& only_reader, const Readers& readers,
                            const ConstFloats& const_floats, const IndexOf& index_of, std::vector<bool>& done);
  void run(const Tensor& input, const std::vector<std::string>& expose, std::vector<Tensor>& out);
};

namespace {

bool is_const(const std::vector<ValuePtr>& consts, const std::map<std::string, int>& slots, const std::string& name) {
  auto it = slots.find(name);
  return it != slots.end() && consts[it->second] != nullptr;
}

}  // namespace

std::optional<std::pair<float, int32_t>> Session::Impl::codes_grid(const Node* q) const {
  if (!q || q->op != "QuantizeLinear" || q->inputs.size() < 2) return std::nullopt;
  auto sc = slot_of.find(q->inputs[1]);
  if (sc == slot_of.end() || !constants[sc->second]) return std::nullopt;
  const auto& sv = *constants[sc->second];
  if (sv.type != DType::f32 || sv.numel() != 1 || !(sv.data<float>()[0] > 0)) return std::nullopt;
  int32_t zp = 0;
  DType type = DType::u8;
  if (q->inputs.size() > 2 && !q->inputs[2].empty()) {
    auto z = model.constants.find(q->inputs[2]);
    if (z == model.constants.end() || z->second.numel() != 1) return std::nullopt;
    type = z->second.type;
    if (type == DType::u8)
      zp = z->second.data<uint8_t>()[0];
    else if (type == DType::s8)
      zp = z->second.data<int8_t>()[0];
    else
      return std::nullopt;
  }
  if (type == DType::u8 && zp != 0 && zp != 128) return std::nullopt;
  if (type == DType::s8 && zp != 0) return std::nullopt;
  return std::make_pair(sv.data<float>()[0], type == DType::s8 ? 128 : zp);  // int8 zero point 0 = int8 codes
}

void Session::Impl::plan() {
  const auto& nodes = model.nodes;
  for (const auto& [name, c] : model.constants) constants[slot(name)] = from_constant(c);
  if (model.inputs.size() != 1)
    throw std::runtime_error("runtime: '" + model.path + "' has " + std::to_string(model.inputs.size()) +
                             " inputs; the runtime runs graphs with one image input");
  input_slot = slot(model.inputs[0]);

  // Fold nodes whose inputs are all constant (DequantizeLinear of constants,
  // the heads' constant arithmetic), except the int8 weights and biases a conv
  // reads as they are.
  std::map<std::string, const Node*> producer;
  for (const auto& n : nodes)
    for (const auto& o : n.outputs) producer[o] = &n;
  auto producer_op = [&](const std::string& name, const std::string& op) -> const Node* {
    auto it = producer.find(name);
    return it != producer.end() && it->second->op == op ? it->second : nullptr;
  };
  // A DequantizeLinear of int8 weights or int32 biases that only convs read is
  // not folded now: an int8 conv reads the integers themselves, and the float
  // copy (4x an int8 weight) would only raise the load's peak memory. A float
  // conv folds it when it is planned (`weight_floats`).
  std::map<std::string, std::vector<const Node*>> all_readers;
  for (const auto& n : nodes)
    for (const auto& i : n.inputs) all_readers[i].push_back(&n);
  std::set<std::string> deferred;  // outputs of DequantizeLinears left unfolded
  auto conv_only_integers = [&](const Node& n) {
    if (n.op != "DequantizeLinear" || !model.constants.count(n.inputs[0])) return false;
    const DType t = model.constants.at(n.inputs[0]).type;
    if (t != DType::s8 && t != DType::s32) return false;
    if (std::count(model.outputs.begin(), model.outputs.end(), n.outputs[0])) return false;
    const auto it = all_readers.find(n.outputs[0]);
    if (it == all_readers.end()) return false;
    for (const Node* r : it->second)
      if (r->op != "Conv" || r->inputs[0] == n.outputs[0]) return false;
    return true;
  };
  std::vector<bool> done(nodes.size(), false);
  auto fold = [&](size_t k) {
    const auto& n = nodes[k];
    std::vector<ValuePtr> in;
    for (const auto& i : n.inputs) in.push_back(i.empty() ? nullptr : constants[slot(i)]);
    auto out = run_node(n, in);
    for (size_t o = 0; o < out.size(); ++o) constants[slot(n.outputs[o])] = materialize(out[o]);
    done[k] = true;
  };
  for (size_t k = 0; k < nodes.size(); ++k) {
    const auto& n = nodes[k];
    bool all_const = !n.inputs.empty();
    for (const auto& i : n.inputs) all_const = all_const && (i.empty() || is_const(constants, slot_of, i));
    if (!all_const || n.op == "QuantizeLinear") continue;
    if (!supported_op(n.op)) bad(n, "the runtime has no kernel for this op");
    if (conv_only_integers(n)) {
      deferred.insert(n.outputs[0]);
      done[k] = true;  // no step: its readers are convs
      // Nor a second copy of the integers (the convs read the file's own).
      if (all_readers[n.inputs[0]].size() == 1) constants[slot(n.inputs[0])].reset();
      continue;
    }
    fold(k);
  }
  // Who reads each tensor (graph outputs count as readers).
  std::map<std::string, std::vector<size_t>> readers;
  for (size_t k = 0; k < nodes.size(); ++k)
    if (!done[k])
      for (const auto& i : nodes[k].inputs) readers[i].push_back(k);
  std::set<std::string> graph_outputs(model.outputs.begin(), model.outputs.end());
  auto only_reader = [&](const std::string& name) -> const Node* {
    if (graph_outputs.count(name)) return nullptr;
    auto it = readers.find(name);
    if (it == readers.end() || it->second.size() != 1) return nullptr;
    return &nodes[it->second[0]];
  };
  auto index_of = [&](const Node* n) { return static_cast<size_t>(n - nodes.data()); };
  auto const_floats = [&](const std::string& name) -> const Value* {
    if (!is_const(constants, slot_of, name)) return nullptr;
    const auto& v = constants[slot_of[name]];
    return v->type == DType::f32 ? v.get() : nullptr;
  };
  // A deferred DequantizeLinear's floats, folded on first use.
  auto weight_floats = [&](const std::string& name) -> const Value* {
    if (deferred.erase(name)) {
      const Node* dq = producer.at(name);
      auto& raw = constants[slot(dq->inputs[0])];
      if (!raw) raw = from_constant(model.constants.at(dq->inputs[0]));
      fold(static_cast<size_t>(dq - nodes.data()));
    }
    return const_floats(name);
  };
  // The raw constant behind a DequantizeLinear (int8 weights, int32 biases).
  auto dq_const = [&](const std::string& name, DType type) -> std::pair<const Constant*, const Value*> {
    const Node* dq = producer_op(name, "DequantizeLinear");
    if (!dq || !model.constants.count(dq->inputs[0])) return {nullptr, nullptr};
    const auto& c = model.constants.at(dq->inputs[0]);
    if (c.type != type) return {nullptr, nullptr};
    if (dq->inputs.size() > 2 && !dq->inputs[2].empty()) {  // zero points must be 0
      const auto& z = model.constants.at(dq->inputs[2]);
      for (auto b : z.bytes)
        if (b != 0) return {nullptr, nullptr};
    }
    return {&c, const_floats(dq->inputs[1])};
  };

  // A Concat whose result a QuantizeLinear rounds, its inputs perhaps through
  // nearest Resizes read by nothing else (YOLOv3's route: the upsampled
  // transition map and a backbone map, quantized for the next conv): the
  // QuantizeLinear moves in front of each input and the Resize and Concat
  // move codes. Quantizing is elementwise and they only move elements, so
  // the codes are the same; the Resize then moves a quarter of the bytes
  // (one per element, before the upsampling) and the Concat a quarter.
  struct ConcatOnCodes {
    const Node* quantize;
    std::vector<const Node*> resizes;  // per input: its folded Resize, or null
  };
  std::map<const Node*, ConcatOnCodes> concat_on_codes;
  for (const auto& n : nodes) {
    if (n.op != "Concat") continue;
    const Node* q = only_reader(n.outputs[0]);
    if (!q || q->inputs[0] != n.outputs[0] || !codes_grid(q)) continue;
    auto& resizes = concat_on_codes.emplace(&n, ConcatOnCodes{q, {}}).first->second.resizes;
    for (const auto& i : n.inputs) {
      const Node* r = producer_op(i, "Resize");
      resizes.push_back(r && only_reader(r->outputs[0]) == &n ? r : nullptr);
    }
    for (const Node* r : resizes)
      if (r) done[index_of(r)] = true;
  }

  std::map<std::tuple<std::string, float, int32_t>, std::string> quantized_once;  // (input, grid) -> codes
  for (size_t k = 0; k < nodes.size(); ++k) {
    if (done[k]) continue;
    const auto& n = nodes[k];
    Step step;
    step.node = &n;
    if (auto cq = concat_on_codes.find(&n); cq != concat_on_codes.end()) {
      const Node* q = cq->second.quantize;
      auto in_or_none = [&](const Node& m, size_t i) {
        return i < m.inputs.size() && !m.inputs[i].empty() ? slot(m.inputs[i]) : -1;
      };
      Step cat;
      cat.node = &n;
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        const Node* r = cq->second.resizes[i];
        Step qs;
        qs.node = q;
        qs.in = {slot(r ? r->inputs[0] : n.inputs[i]), in_or_none(*q, 1), in_or_none(*q, 2)};
        const std::string codes = q->outputs[0] + "#" + std::to_string(i);  // the runtime's own tensor
        qs.out = {slot(codes)};
        qs.text = q->name + ": QuantizeLinear of " + n.name + "'s input " + std::to_string(i);
        steps.push_back(std::move(qs));
        if (r) {
          Step rs;
          rs.node = r;
          rs.in = {slot(codes), in_or_none(*r, 1), in_or_none(*r, 2), in_or_none(*r, 3)};
          rs.out = {slot(codes + "#resized")};
          rs.text = r->name + ": Resize of codes";
          fused_away.insert(r->outputs[0]);
          steps.push_back(std::move(rs));
          cat.in.push_back(slot(codes + "#resized"));
        } else {
          cat.in.push_back(slot(codes));
        }
      }
      cat.out = {slot(q->outputs[0])};
      cat.text = n.name + ": Concat of codes";
      fused_away.insert(n.outputs[0]);
      done[k] = done[index_of(q)] = true;
      ++summary.concat_on_codes;
      steps.push_back(std::move(cat));
      continue;
    }
    if (n.op == "Conv") {
      ConvSpec s;
      s.name = n.name;
      const auto kshape = n.ints("kernel_shape");
      s.groups = n.i("group", 1);
      s.strides = n.ints("strides", {1, 1});
      s.pads = n.ints("pads", {0, 0, 0, 0});
      s.dilations = n.ints("dilations", {1, 1});
      if (n.has("auto_pad") && n.s("auto_pad", "NOTSET") != "NOTSET")
        bad(n, "auto_pad is not run; write explicit pads");
      if (s.strides.size() != 2 || s.pads.size() != 4 || s.dilations.size() != 2) bad(n, "only 2-D convs run");
      // int8: the input is a DequantizeLinear of a runtime tensor and the
      // weight one of an int8 constant.
      const Node* dx = producer_op(n.inputs[0], "DequantizeLinear");
      auto [wq, wscale] = dq_const(n.inputs[1], DType::s8);
      const bool x_quant = dx && !is_const(constants, slot_of, dx->inputs[0]);
      s.int8 = x_quant && wq && wscale;
      std::vector<int64_t> wdims;
      if (s.int8) {
        wdims = wq->dims;
        s.weight_s8.assign(wq->data<int8_t>(), wq->data<int8_t>() + wq->numel());
        s.weight_scale.resize(wdims.at(0));
        for (int64_t c = 0; c < wdims[0]; ++c)
          s.weight_scale[c] = wscale->numel() == 1 ? wscale->data<float>()[0] : wscale->data<float>()[c];
        // The input's scale and zero point are the DequantizeLinear's.
        const Value* xs = const_floats(dx->inputs[1]);
        if (!xs || xs->numel() != 1) bad(n, "its input DequantizeLinear has no constant per-tensor scale");
        s.in_scale = xs->data<float>()[0];
        if (dx->inputs.size() > 2 && model.constants.count(dx->inputs[2])) {
          const auto& z = model.constants.at(dx->inputs[2]);
          s.in_zp = z.type == DType::u8 ? z.data<uint8_t>()[0] : z.data<int8_t>()[0];
        }
        step.in.push_back(slot(dx->inputs[0]));
      } else {
        const Value* w = weight_floats(n.inputs[1]);
        if (!w) bad(n, "its weight is not a constant (float, or DequantizeLinear of int8)");
        wdims = w->dims;
        s.weight_f32.assign(w->data<float>(), w->data<float>() + w->numel());
        step.in.push_back(slot(n.inputs[0]));
      }
      if (wdims.size() != 4) bad(n, "only 2-D convs run (weight " + dims_str(wdims) + ")");
      s.out_channels = wdims[0];
      s.in_channels = wdims[1] * s.groups;
      s.kh = wdims[2];
      s.kw = wdims[3];
      if (!kshape.empty() && (kshape[0] != s.kh || kshape[1] != s.kw)) bad(n, "kernel_shape disagrees with the weight");
      if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
        auto [bq, bscale] = dq_const(n.inputs[2], DType::s32);
        if (bq && bscale) {
          s.bias.resize(s.out_channels);
          for (int64_t c = 0; c < s.out_channels; ++c)
            s.bias[c] = static_cast<float>(bq->data<int32_t>()[c]) *
                        (bscale->numel() == 1 ? bscale->data<float>()[0] : bscale->data<float>()[c]);
        } else if (const Value* b = weight_floats(n.inputs[2])) {
          s.bias.assign(b->data<float>(), b->data<float>() + b->numel());
        } else {
          bad(n, "its bias is not a constant");
        }
        if (static_cast<int64_t>(s.bias.size()) != s.out_channels) bad(n, "bias length is not the output channels");
      }
      // Fold the activations that follow into post-ops.
      std::string cur = n.outputs[0];
      for (;;) {
        auto rit = readers.find(cur);
        const Node* r = only_reader(cur);
        // h-swish written as x * HardSigmoid(x; 1/6, 1/2): two readers of x.
        if (!r && !graph_outputs.count(cur) && rit != readers.end() && rit->second.size() == 2) {
          const Node* a = &nodes[rit->second[0]];
          const Node* b = &nodes[rit->second[1]];
          if (a->op == "Mul") std::swap(a, b);
          if (a->op == "HardSigmoid" && b->op == "Mul" && std::fabs(a->f("alpha", 0.2f) - 1.f / 6) < 1e-6f &&
              std::fabs(a->f("beta", 0.5f) - 0.5f) < 1e-6f && only_reader(a->outputs[0]) == b) {
            s.post.push_back({PostOp::hard_swish, 0, 0});
            done[index_of(a)] = done[index_of(b)] = true;
            fused_away.insert(cur);
            fused_away.insert(a->outputs[0]);
            cur = b->outputs[0];
            summary.fused_post_ops += 2;
            continue;
          }
        }
        if (!r) break;
        PostOp p{PostOp::relu, 0, 0};
        if (r->op == "Relu") {
        } else if (r->op == "LeakyRelu") {
          p = {PostOp::leaky_relu, r->f("alpha", 0.01f), 0};
        } else if (r->op == "HardSigmoid") {
          p = {PostOp::hard_sigmoid, r->f("alpha", 0.2f), r->f("beta", 0.5f)};
        } else if (r->op == "Sigmoid") {
          p = {PostOp::sigmoid, 0, 0};
        } else if (r->op == "Clip") {
          const Value* lo = r->inputs.size() > 1 && !r->inputs[1].empty() ? const_floats(r->inputs[1]) : nullptr;
          const Value* hi = r->inputs.size() > 2 && !r->inputs[2].empty() ? const_floats(r->inputs[2]) : nullptr;
          if (!lo || !hi) break;
          p = {PostOp::clip, lo->data<float>()[0], hi->data<float>()[0]};
        } else {
          break;
        }
        s.post.push_back(p);
        done[index_of(r)] = true;
        fused_away.insert(cur);
        cur = r->outputs[0];
        ++summary.fused_post_ops;
      }
      // An int8 conv writes the codes of the QuantizeLinear that rounds it.
      if (s.int8) {
        const Node* q = only_reader(cur);
        if (const auto grid = codes_grid(q)) {
          s.quantize_output = true;
          std::tie(s.out_scale, s.out_zp) = *grid;
          done[index_of(q)] = true;
          fused_away.insert(cur);
          cur = q->outputs[0];
          ++summary.fused_quantize;
        }
      }
      step.out.push_back(slot(cur));
      ++(s.int8 ? summary.int8_convs : summary.float_convs);
      step.text = s.describe();
      const bool codes_out = s.quantize_output;
      step.conv = std::make_unique<ConvKernel>(std::move(s));
      done[k] = true;
      steps.push_back(std::move(step));
      if (codes_out) plan_int8_activation(cur, only_reader, readers, const_floats, index_of, done);
      continue;
    } else {
      if (!supported_op(n.op)) bad(n, "the runtime has no kernel for this op");
      // A tensor several convs read is quantized once per grid: the
      // exporter writes a QuantizeLinear per reading conv, and their grids
      // agree when the convs' input observers saw the same tensor.
      if (const auto grid = n.op == "QuantizeLinear" ? codes_grid(&n) : std::nullopt) {
        const auto key = std::make_tuple(n.inputs[0], grid->first, grid->second);
        if (auto it = quantized_once.find(key); it != quantized_once.end()) {
          slot_of[n.outputs[0]] = slot(it->second);
          done[k] = true;
          continue;
        }
        quantized_once[key] = n.outputs[0];
      }
      for (const auto& i : n.inputs) step.in.push_back(i.empty() ? -1 : slot(i));
      // A residual Add or an SE Mul whose result a QuantizeLinear rounds: one pass.
      const Node* q = (n.op == "Add" || n.op == "Mul") && n.inputs.size() == 2 ? only_reader(n.outputs[0]) : nullptr;
      const auto grid = q && q->inputs[0] == n.outputs[0] ? codes_grid(q) : std::nullopt;
      if (grid) {
        auto qb = std::make_unique<QuantizedBinary>();
        qb->op = &n;
        qb->quantize = q;
        std::tie(qb->out_scale, qb->out_zp) = *grid;
        step.qbin = std::move(qb);
        step.in.push_back(slot(q->inputs[1]));
        step.in.push_back(q->inputs.size() > 2 && !q->inputs[2].empty() ? slot(q->inputs[2]) : -1);
        step.out.push_back(slot(q->outputs[0]));
        step.text = n.name + ": " + n.op + " -> codes";
        fused_away.insert(n.outputs[0]);
        done[index_of(q)] = true;
        ++summary.fused_binary_quantize;
        done[k] = true;
        steps.push_back(std::move(step));
        continue;
      }
      for (const auto& o : n.outputs) step.out.push_back(slot(o));
      step.text = n.name + ": " + n.op;
    }
    done[k] = true;
    steps.push_back(std::move(step));
  }
  for (const auto& o : model.outputs) {
    if (!slot_of.count(o))
      throw std::runtime_error("runtime: '" + model.path + "': output '" + o + "' is never written");
    output_slots.push_back(slot(o));
  }
  last_use.assign(constants.size(), -1);
  for (size_t k = 0; k < steps.size(); ++k)
    for (int s : steps[k].in)
      if (s >= 0) last_use[s] = static_cast<int>(k);
  // Steps whose outputs no step reads and no graph output is; from the back,
  // so that a step read only by unread ones is unread too.
  std::vector<int> readers_left(constants.size(), 0);
  for (const auto& st : steps)
    for (int s : st.in)
      if (s >= 0) ++readers_left[s];
  for (int s : output_slots) ++readers_left[s];
  for (size_t k = steps.size(); k-- > 0;) {
    auto& st = steps[k];
    st.unread =
        !st.out.empty() && std::all_of(st.out.begin(), st.out.end(), [&](int s) { return readers_left[s] == 0; });
    if (st.unread)
      for (int s : st.in)
        if (s >= 0) --readers_left[s];
  }
  summary.unread_steps = std::count_if(steps.begin(), steps.end(), [](const Step& st) { return st.unread; });
  // Constants no step reads (folded weights an int8 conv holds as codes) go.
  for (size_t s = 0; s < constants.size(); ++s)
    if (constants[s] && last_use[s] < 0 &&
        std::find(output_slots.begin(), output_slots.end(), static_cast<int>(s)) == output_slots.end())
      constants[s].reset();
  summary.nodes = static_cast<int64_t>(nodes.size());
  summary.steps = static_cast<int64_t>(steps.size());
}

// After an int8 conv that writes codes, one kernel (activation_int8.h) for
// DQ -> Add(3) -> Q(6/255) -> DQ(1/255) -> Mul(x, .) [-> Q], the exporter's
// int8 h-swish, or for DQ -> LeakyRelu [-> Q], YOLOv3's.
template <class OnlyReader, class Readers, class ConstFloats, class IndexOf>
void Session::Impl::plan_int8_activation(const std::string& codes, const OnlyReader& only_reader,
                                         const Readers& readers, const ConstFloats& const_floats,
                                         const IndexOf& index_of, std::vector<bool>& done) {
  auto scalar = [&](const Node* n, size_t i) -> const Value* {
    if (!n || n->inputs.size() <= i || n->inputs[i].empty()) return nullptr;
    const Value* v = const_floats(n->inputs[i]);
    return v && v->numel() == 1 ? v : nullptr;
  };
  auto zero_point = [&](const Node* n, size_t i, DType* type) -> int {
    *type = DType::u8;
    if (n->inputs.size() <= i || n->inputs[i].empty()) return 0;
    auto it = model.constants.find(n->inputs[i]);
    if (it == model.constants.end() || it->second.numel() != 1) return -1;
    *type = it->second.type;
    return it->second.type == DType::u8   ? it->second.template data<uint8_t>()[0]
           : it->second.type == DType::s8 ? it->second.template data<int8_t>()[0]
                                          : -1;
  };
  const Node* d1 = nullptr;
  {
    auto it = readers.find(codes);
    if (it == readers.end() || it->second.size() != 1) return;
    d1 = &model.nodes[it->second[0]];
  }
  if (d1->op != "DequantizeLinear" || !scalar(d1, 1) || d1->inputs[0] != codes) return;
  DType t1;
  const int z1 = zero_point(d1, 2, &t1);
  if (z1 < 0) return;
  Int8Activation h;
  h.in_scale = scalar(d1, 1)->template data<float>()[0];
  h.in_zp = z1;
  const Node* last = nullptr;  // the node whose output is the activation's floats
  std::vector<const Node*> absorbed = {d1};
  auto rit = readers.find(d1->outputs[0]);
  if (rit == readers.end()) return;
  if (const Node* leaky = only_reader(d1->outputs[0]); leaky && leaky->op == "LeakyRelu") {
    h.kind = Int8Activation::Kind::leaky_relu;
    h.alpha = leaky->f("alpha", 0.01f);
    last = leaky;
  } else {
    if (rit->second.size() != 2) return;
    const Node* add = &model.nodes[rit->second[0]];
    const Node* mul = &model.nodes[rit->second[1]];
    if (add->op == "Mul") std::swap(add, mul);
    if (add->op != "Add" || mul->op != "Mul" || add->inputs.size() != 2 || add->inputs[0] != d1->outputs[0]) return;
    const Value* three = scalar(add, 1);
    const Node* q2 = only_reader(add->outputs[0]);
    if (!three || !q2 || q2->op != "QuantizeLinear" || !scalar(q2, 1)) return;
    const Node* d2 = only_reader(q2->outputs[0]);
    if (!d2 || d2->op != "DequantizeLinear" || !scalar(d2, 1)) return;
    if (only_reader(d2->outputs[0]) != mul || mul->inputs.size() != 2 || mul->inputs[0] != d1->outputs[0] ||
        mul->inputs[1] != d2->outputs[0])
      return;
    DType t2, t3;
    const int zq = zero_point(q2, 2, &t2), zd = zero_point(d2, 2, &t3);
    if (zq != 0 || zd != 0 || t2 != DType::u8 || t3 != DType::u8) return;
    h.three = three->template data<float>()[0];
    h.relu6_scale = scalar(q2, 1)->template data<float>()[0];
    h.hsigmoid_scale = scalar(d2, 1)->template data<float>()[0];
    if (!(h.relu6_scale > 0)) return;
    absorbed.insert(absorbed.end(), {add, q2, d2});
    last = mul;
  }
  absorbed.push_back(last);
  h.name = last->name;
  // Every QuantizeLinear that reads the activation's floats is a function of
  // the input byte too: each grid gets its own table and writes its codes
  // straight from the conv's (SSDLite's feature maps feed the next block and
  // the loc and conf heads). The floats are made only when something else
  // reads them (the SE pool and gate, YOLOv3's upsample, a graph output).
  const std::string y = last->outputs[0];
  std::vector<std::pair<const Node*, std::pair<float, int32_t>>> quantized;
  bool floats_read = std::count(model.outputs.begin(), model.outputs.end(), y) > 0;
  if (auto it = readers.find(y); it != readers.end())
    for (size_t r : it->second) {
      const Node* q3 = &model.nodes[r];
      const auto grid = q3->inputs[0] == y ? codes_grid(q3) : std::nullopt;
      if (grid && std::none_of(quantized.begin(), quantized.end(), [&](const auto& e) { return e.first == q3; }))
        quantized.emplace_back(q3, *grid);
      else if (!grid)
        floats_read = true;
    }
  for (const Node* n : absorbed) {
    done[index_of(n)] = true;
    if (n != last || !floats_read) fused_away.insert(n->outputs[0]);
  }
  dequantized_alias[d1->outputs[0]] = slot(codes);
  fused_away.erase(d1->outputs[0]);
  const bool leaky = h.kind == Int8Activation::Kind::leaky_relu;
  auto emit = [&](const Int8Activation& k, const std::string& out) {
    Step st;
    st.node = last;
    st.in.push_back(slot(codes));
    st.out.push_back(slot(out));
    st.text = k.name + (leaky ? ": int8 LeakyRelu" : ": int8 h-swish") + (k.quantize_output ? " -> codes" : "");
    st.act = std::make_unique<Int8Activation>(k);
    steps.push_back(std::move(st));
  };
  if (floats_read) emit(h, y);
  // QuantizeLinears on one grid (the usual case: each reading conv's input
  // observer saw the same tensor) share one table and one tensor of codes.
  std::vector<std::pair<std::pair<float, int32_t>, std::string>> written;  // grid -> codes
  for (const auto& [q3, grid] : quantized) {
    done[index_of(q3)] = true;
    absorbed.push_back(q3);
    auto same = std::find_if(written.begin(), written.end(), [&](const auto& w) { return w.first == grid; });
    if (same != written.end()) {
      slot_of[q3->outputs[0]] = slot(same->second);
      continue;
    }
    Int8Activation hq = h;
    hq.quantize_output = true;
    std::tie(hq.out_scale, hq.out_zp) = grid;
    hq.name = written.empty() ? h.name : h.name + " -> " + q3->name;
    written.emplace_back(grid, q3->outputs[0]);
    emit(hq, q3->outputs[0]);
  }
  summary.fused_post_ops += static_cast<int64_t>(absorbed.size());
  ++(leaky ? summary.int8_leaky_relu : summary.int8_hard_swish);
}

void Session::Impl::run(const Tensor& input, const std::vector<std::string>& expose, std::vector<Tensor>& out) {
  set_threads(threads);
  const auto& want = model.input_dims[0];
  if (input.dims.size() != want.size())
    throw std::runtime_error("runtime: '" + model.path + "' takes a " + std::to_string(want.size()) + "-D input, got " +
                             dims_str(input.dims));
  for (size_t d = 0; d < want.size(); ++d)
    if (want[d] > 0 && want[d] != input.dims[d])
      throw std::runtime_error("runtime: '" + model.path + "' takes input " + dims_str(want) + ", got " +
                               dims_str(input.dims));
  std::vector<int> keep = output_slots;
  for (const auto& e : expose) {
    if (auto a = dequantized_alias.find(e); a != dequantized_alias.end()) {
      keep.push_back(a->second);  // the codes, dequantized below
      continue;
    }
    if (fused_away.count(e))
      throw std::runtime_error("runtime: tensor '" + e + "' lives inside a fused kernel of '" + model.path + "'");
    auto it = slot_of.find(e);
    if (it == slot_of.end()) throw std::runtime_error("runtime: '" + model.path + "' has no tensor '" + e + "'");
    keep.push_back(it->second);
  }
  std::vector<bool> kept(constants.size(), false);
  for (int s : keep) kept[s] = true;

  std::vector<ValuePtr> env = constants;
  // The image is read where it lies (no kernel writes into its inputs): a
  // copy cost the 320 px SSDLite-Small 3% of its run.
  auto x = std::make_shared<Value>();
  x->type = DType::f32;
  x->dims = input.dims;
  if (static_cast<int64_t>(input.data.size()) != x->numel())
    throw std::runtime_error("runtime: input holds " + std::to_string(input.data.size()) + " values for " +
                             dims_str(input.dims));
  x->buf = Buffer::borrow(input.data.data(), x->bytes());
  env[input_slot] = x;
  auto free_inputs = [&](size_t k) {  // what no later step reads
    for (int s : steps[k].in)
      if (s >= 0 && last_use[s] == static_cast<int>(k) && !kept[s] && !constants[s]) env[s].reset();
  };
  const bool all_steps = !expose.empty();
  for (size_t k = 0; k < steps.size(); ++k) {
    auto& st = steps[k];
    if (st.unread && !all_steps) {
      free_inputs(k);
      continue;
    }
    std::vector<ValuePtr> in;
    for (int s : st.in) in.push_back(s < 0 ? nullptr : env[s]);
    const auto t0 = std::chrono::steady_clock::now();
    try {
      if (st.conv) {
        env[st.out[0]] = st.conv->run(in[0]);
      } else if (st.act) {
        env[st.out[0]] = st.act->run(in[0]);
      } else if (st.qbin) {
        env[st.out[0]] = st.qbin->run(in[0], in[1], {in[2], in[3]});
      } else {
        auto out = run_node(*st.node, in);
        for (size_t o = 0; o < out.size(); ++o) env[st.out[o]] = out[o];
      }
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(std::string(e.what()) + " (running '" + model.path + "')");
    }
    if (profiling) {
      std::string kind = st.node ? st.node->op : "";
      if (st.conv) kind = conv_kind(st.conv->spec());
      if (st.act) kind = st.act->kind == Int8Activation::Kind::leaky_relu ? "LeakyRelu int8" : "HardSwish int8";
      if (st.qbin) kind = st.node->op + " -> codes";
      if (profile_steps) kind = std::to_string(k) + " " + st.text;
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      auto& p = profile[kind];
      p.first += ms;
      ++p.second;
    }
    free_inputs(k);
  }
  // Into the caller's tensors, keeping their storage: fresh vectors every run
  // cost page faults (glibc gives the freed heap top back to the system).
  out.resize(keep.size());
  for (size_t o = 0; o < keep.size(); ++o) {
    const int s = keep[o];
    if (!env[s]) throw std::runtime_error("runtime: a requested tensor of '" + model.path + "' was not computed");
    auto v = env[s];
    if (v->quantized) {  // codes: report their float values
      auto f = std::make_shared<Value>();
      f->dims = v->dims;
      f->nhwc = v->nhwc;
      f->deq_of = v;
      f->scale = v->scale;
      f->zp = v->zp;
      v = f;
    }
    v = to_nchw(materialize(v));
    Tensor& t = out[o];
    t.dims = v->dims;
    if (v->type == DType::f32) {
      t.data.assign(v->data<float>(), v->data<float>() + v->numel());
    } else if (v->type == DType::s64) {
      t.data.resize(static_cast<size_t>(v->numel()));
      for (int64_t k = 0; k < v->numel(); ++k) t.data[k] = static_cast<float>(v->data<int64_t>()[k]);
    } else {
      throw std::runtime_error("runtime: output of type " + std::string(dtype_name(v->type)));
    }
  }
}

Session::Session(const std::string& onnx_path, int threads) : impl_(std::make_unique<Impl>()) {
  impl_->model = load_model(onnx_path);
  impl_->threads = threads;
  set_threads(threads);
  impl_->plan();
  impl_->model.constants.clear();  // the plan holds what it needs
}
Session::~Session() = default;

const std::vector<std::string>& Session::output_names() const { return impl_->model.outputs; }
std::vector<int64_t> Session::input_dims() const { return impl_->model.input_dims.at(0); }
std::vector<Tensor> Session::run(const Tensor& input) { return run(input, std::vector<std::string>{}); }
std::vector<Tensor> Session::run(const Tensor& input, const std::vector<std::string>& expose) {
  std::vector<Tensor> out;
  impl_->run(input, expose, out);
  return out;
}
void Session::run(const Tensor& input, std::vector<Tensor>& outputs) { impl_->run(input, {}, outputs); }
const PlanSummary& Session::summary() const { return impl_->summary; }
void Session::set_profiling(bool on, bool per_step) {
  impl_->profiling = on;
  impl_->profile_steps = per_step;
  impl_->profile.clear();
}
std::vector<Session::KernelTime> Session::profile() const {
  std::vector<KernelTime> out;
  for (const auto& [kind, p] : impl_->profile) out.push_back({kind, p.first, p.second});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.ms > b.ms; });
  return out;
}
std::vector<std::string> Session::describe() const {
  std::vector<std::string> out;
  for (const auto& s : impl_->steps) out.push_back(s.text);
  return out;
}

}  // namespace compress::runtime
