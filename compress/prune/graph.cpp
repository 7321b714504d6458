#include "compress/prune/graph.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <set>

#include "compress/prune/trace.h"
#include "train/util/error.h"

namespace compress::prune {
namespace {

using torch::autograd::Node;

// A forward tensor: the autograd node that produced it and which of its outputs.
struct TensorRef {
  Node* node = nullptr;
  uint32_t nr = 0;
  bool operator<(const TensorRef& o) const { return node != o.node ? node < o.node : nr < o.nr; }
  bool operator==(const TensorRef& o) const { return node == o.node && nr == o.nr; }
};

enum class OpKind { Leaf, Conv, BatchNorm, Elementwise, Cat, Opaque };

// Ops that keep channel i of every input in channel i of the output (with
// broadcasting of size-1 channel axes): activations, arithmetic, pooling,
// upsampling. Matched on the autograd node name, e.g. "HardswishBackward0".
bool channel_preserving(const std::string& name) {
  static const char* kPrefixes[] = {"Add",       "Sub",         "Mul",      "Div",       "Relu",
                                    "Hardswish", "Hardsigmoid", "Hardtanh", "LeakyRelu", "Sigmoid",
                                    "Tanh",      "Clamp",       "Upsample", "Mean",      "AdaptiveAvgPool",
                                    "AvgPool",   "MaxPool",     "Clone",    "Neg",       "Threshold",
                                    "Elu",       "Gelu",        "Silu",     "Mish"};
  for (const char* p : kPrefixes)
    if (name.rfind(p, 0) == 0) return true;
  return false;
}

struct Op {
  OpKind kind = OpKind::Opaque;
  std::string name;               // autograd node name
  std::string module;             // conv / BN module path
  std::vector<TensorRef> inputs;  // data inputs with a channel axis (for conv and BN: the input only)
  std::vector<int64_t> offsets;   // Cat: channel offset of each input
  bool depthwise = false;         // Conv
  bool grouped = false;           // Conv with groups > 1 that is not depthwise
};

std::string strip_suffix(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0
             ? s.substr(0, s.size() - suffix.size())
             : std::string();
}

}  // namespace

struct DependencyGraph::Impl {
  std::vector<std::shared_ptr<Node>> keep_alive;  // the traced graph
  std::map<Node*, Op> ops;
  std::map<TensorRef, std::vector<std::pair<Node*, size_t>>> consumers;  // tensor -> (op, input index)
  std::map<TensorRef, std::vector<int64_t>> shapes;
  std::set<TensorRef> outputs;
  std::map<std::string, Node*> conv_by_module;
  std::vector<ConvInfo> convs;
  std::vector<std::pair<uint64_t, LinearInfo>> linears;  // (sequence number, layer)
  std::vector<LinearInfo> linears_in_order;

  int64_t channels(const TensorRef& t) const {
    const auto& s = shapes.at(t);
    return s.size() >= 2 ? s[1] : -1;
  }
};

namespace {

// The walk that collects a group: visit(t, interval) adds every member that
// touches tensor t's channels [begin, begin + length), mapped to root channels
// from root_begin, and follows producers and consumers.
struct GroupWalk {
  const DependencyGraph::Impl& g;
  ChannelGroup& out;
  std::set<std::pair<TensorRef, int64_t>> seen;  // (tensor, begin)
  std::set<std::tuple<int, std::string, int64_t>> members;

  void block(const std::string& why) {
    if (out.blocked.empty()) out.blocked = why;
  }
  void add(MemberKind k, const std::string& module, int64_t root_begin, int64_t begin, int64_t length) {
    if (members.insert({static_cast<int>(k), module, root_begin}).second)
      out.members.push_back({k, module, root_begin, begin, length});
  }

  void visit(const TensorRef& t, int64_t root_begin, int64_t begin, int64_t length) {
    if (!seen.insert({t, begin}).second) return;
    if (g.outputs.count(t)) block("its channels reach a model output");
    // Producer side.
    const Op& p = g.ops.at(t.node);
    switch (p.kind) {
      case OpKind::Leaf:
        block("its channels come from a parameter or the input image");
        break;
      case OpKind::Conv:
        if (p.depthwise) {
          add(MemberKind::Depthwise, p.module, root_begin, begin, length);
          visit(p.inputs.at(0), root_begin, begin, length);
        } else {
          add(MemberKind::ConvOut, p.module, root_begin, begin, length);
        }
        break;
      case OpKind::BatchNorm:
        add(MemberKind::BatchNorm, p.module, root_begin, begin, length);
        visit(p.inputs.at(0), root_begin, begin, length);
        break;
      case OpKind::Elementwise:
        for (const auto& in : p.inputs)
          if (g.channels(in) == g.channels(t)) visit(in, root_begin, begin, length);
        break;
      case OpKind::Cat:
        for (size_t k = 0; k < p.inputs.size(); ++k) {
          const int64_t lo = std::max(begin, p.offsets[k]);
          const int64_t hi = std::min(begin + length, p.offsets[k] + g.channels(p.inputs[k]));
          if (lo < hi) visit(p.inputs[k], root_begin + (lo - begin), lo - p.offsets[k], hi - lo);
        }
        break;
      case OpKind::Opaque:
        block("its channels pass through " + p.name);
        break;
    }
    // Consumer side.
    const auto it = g.consumers.find(t);
    if (it == g.consumers.end()) return;
    for (const auto& [node, idx] : it->second) {
      const Op& c = g.ops.at(node);
      const TensorRef o{node, 0};
      switch (c.kind) {
        case OpKind::Conv:
          if (c.depthwise) {
            add(MemberKind::Depthwise, c.module, root_begin, begin, length);
            visit(o, root_begin, begin, length);
          } else if (c.grouped) {
            block("it feeds the grouped conv " + c.module);
          } else {
            add(MemberKind::ConvIn, c.module, root_begin, begin, length);
          }
          break;
        case OpKind::BatchNorm:
          add(MemberKind::BatchNorm, c.module, root_begin, begin, length);
          visit(o, root_begin, begin, length);
          break;
        case OpKind::Elementwise:
          if (g.channels(o) == g.channels(t))
            visit(o, root_begin, begin, length);
          else
            block("its channels are broadcast by " + c.name);
          break;
        case OpKind::Cat:
          visit(o, root_begin, begin + c.offsets.at(idx), length);
          break;
        default:
          block("its channels pass through " + c.name);
      }
    }
  }
};

}  // namespace

DependencyGraph::DependencyGraph(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DependencyGraph::~DependencyGraph() = default;
DependencyGraph::DependencyGraph(DependencyGraph&&) noexcept = default;
DependencyGraph& DependencyGraph::operator=(DependencyGraph&&) noexcept = default;

const std::vector<ConvInfo>& DependencyGraph::convs() const { return impl_->convs; }
const std::vector<LinearInfo>& DependencyGraph::linears() const { return impl_->linears_in_order; }

ChannelGroup DependencyGraph::group_of(const std::string& conv_path) const {
  const auto it = impl_->conv_by_module.find(conv_path);
  if (it == impl_->conv_by_module.end()) fail("'", conv_path, "' is not a conv the model's forward pass runs");
  ChannelGroup g;
  g.root = conv_path;
  const TensorRef root{it->second, 0};
  g.channels = impl_->channels(root);
  GroupWalk walk{*impl_, g, {}, {}};
  walk.visit(root, 0, 0, g.channels);
  return g;
}

DependencyGraph trace_graph(torch::nn::Module& model, const ForwardFn& forward,
                            const std::vector<int64_t>& input_shape) {
  auto impl = std::make_unique<DependencyGraph::Impl>();
  std::map<const c10::TensorImpl*, std::string> param_names;
  for (const auto& p : model.named_parameters()) param_names[p.value().unsafeGetTensorImpl()] = p.key();

  const bool was_training = model.is_training();
  model.eval();
  std::vector<torch::Tensor> outs;
  {
    torch::AutoGradMode grad(true);
    std::vector<bool> req;
    for (auto& p : model.parameters()) {
      req.push_back(p.requires_grad());
      p.requires_grad_(true);  // frozen layers must still appear in the graph
    }
    outs = forward(torch::zeros(input_shape));
    size_t i = 0;
    for (auto& p : model.parameters()) p.requires_grad_(req[i++]);
  }
  model.train(was_training);

  auto param_of = [&](const torch::autograd::Edge& e) -> std::string {
    if (!e.is_valid()) return "";
    auto* acc = dynamic_cast<torch::autograd::AccumulateGrad*>(e.function.get());
    if (!acc) return "";
    const auto n = param_names.find(acc->variable.unsafeGetTensorImpl());
    return n == param_names.end() ? "" : n->second;
  };
  auto shape_of = [&](const TensorRef& t) {
    auto it = impl->shapes.find(t);
    if (it == impl->shapes.end()) {
      const auto z = t.node->input_metadata(t.nr).zeros_like();
      it = impl->shapes.emplace(t, z.sizes().vec()).first;
    }
    return it->second;
  };

  // Depth-first over the autograd graph from the outputs; a node's next edges
  // are its forward inputs.
  std::vector<Node*> stack, order;
  for (const auto& o : outs) {
    if (!o.grad_fn()) continue;  // a constant output (SSD's priors)
    impl->outputs.insert({o.grad_fn().get(), static_cast<uint32_t>(o.output_nr())});
    impl->keep_alive.push_back(o.grad_fn());
    stack.push_back(o.grad_fn().get());
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (impl->ops.count(n)) continue;
    Op& op = impl->ops[n];
    op.name = n->name();
    order.push_back(n);
    const auto& edges = n->next_edges();
    for (const auto& e : edges)
      if (e.is_valid() && !impl->ops.count(e.function.get())) {
        impl->keep_alive.push_back(e.function);
        stack.push_back(e.function.get());
      }
    auto data_input = [&](size_t i) -> TensorRef {
      if (i >= edges.size() || !edges[i].is_valid()) return {};
      return {edges[i].function.get(), edges[i].input_nr};
    };
    if (dynamic_cast<torch::autograd::AccumulateGrad*>(n)) {
      op.kind = OpKind::Leaf;
      continue;
    }
    if (op.name.rfind("ConvolutionBackward", 0) == 0) {
      const std::string w = param_of(edges.size() > 1 ? edges[1] : torch::autograd::Edge());
      const std::string module = strip_suffix(w, ".weight");
      if (module.empty()) {
        op.kind = OpKind::Opaque;
        op.name += " (weight is not a module parameter)";
      } else {
        op.kind = OpKind::Conv;
        op.module = module;
        // From the parameter itself: a cached accumulator may predate a slicing.
        const auto wshape =
            dynamic_cast<torch::autograd::AccumulateGrad*>(edges[1].function.get())->variable.sizes().vec();
        const TensorRef in = data_input(0);
        const TensorRef out{n, 0};
        const int64_t cin = in.node ? shape_of(in)[1] : wshape[1];
        const int64_t groups = cin / wshape[1];
        op.depthwise = groups > 1 && groups == cin && wshape[0] == cin;
        op.grouped = groups > 1 && !op.depthwise;
        if (in.node) op.inputs.push_back(in);
        impl->conv_by_module[module] = n;
        impl->convs.push_back({module, wshape, shape_of(out), groups,
                               param_of(edges.size() > 2 ? edges[2] : torch::autograd::Edge()) != ""});
      }
    } else if (op.name.find("BatchNorm") != std::string::npos) {
      const std::string module =
          strip_suffix(param_of(edges.size() > 1 ? edges[1] : torch::autograd::Edge()), ".weight");
      op.kind = module.empty() ? OpKind::Opaque : OpKind::BatchNorm;
      op.module = module;
      if (const TensorRef in = data_input(0); in.node) op.inputs.push_back(in);
    } else {
      if (op.name.rfind("AddmmBackward", 0) == 0 || op.name.rfind("MmBackward", 0) == 0) {
        // torch::nn::Linear records addmm(bias, x, W^T) (mm without a bias):
        // W reaches it through a transpose. Recorded for FLOPs; the op stays
        // opaque to channel groups.
        for (const auto& e : edges) {
          if (!e.is_valid() || e.function->name().rfind("TBackward", 0) != 0) continue;
          const auto& t_edges = e.function->next_edges();
          const std::string w = t_edges.empty() ? "" : param_of(t_edges[0]);
          if (w.empty() || strip_suffix(w, ".weight").empty()) continue;
          const auto ws = dynamic_cast<torch::autograd::AccumulateGrad*>(t_edges[0].function.get())->variable.sizes();
          if (ws.size() != 2) continue;
          const bool bias = op.name.rfind("AddmmBackward", 0) == 0 && !param_of(edges[0]).empty();
          impl->linears.push_back({n->sequence_nr(), {strip_suffix(w, ".weight"), ws[1], ws[0], bias}});
        }
      }
      for (size_t i = 0; i < edges.size(); ++i)
        if (const TensorRef in = data_input(i); in.node) op.inputs.push_back(in);
      const auto oshape = shape_of({n, 0});
      if (op.name.rfind("CatBackward", 0) == 0 && oshape.size() >= 2) {
        // Concat along channels when the inputs' channels add up to the output's
        // and every other axis matches; otherwise it concatenates something else.
        int64_t off = 0;
        bool along_channels = true;
        for (const auto& in : op.inputs) {
          const auto s = shape_of(in);
          if (s.size() != oshape.size()) along_channels = false;
          for (size_t d = 0; along_channels && d < s.size(); ++d)
            if (d != 1 && s[d] != oshape[d]) along_channels = false;
          op.offsets.push_back(off);
          if (along_channels) off += s[1];
        }
        op.kind = along_channels && off == oshape[1] && op.inputs.size() == edges.size() ? OpKind::Cat : OpKind::Opaque;
      } else if (channel_preserving(op.name) && oshape.size() >= 2 && n->num_inputs() == 1) {
        op.kind = OpKind::Elementwise;
        for (const auto& in : op.inputs) {
          if (dynamic_cast<torch::autograd::AccumulateGrad*>(in.node)) op.kind = OpKind::Opaque;  // a learned scale
          const auto s = shape_of(in);
          if (s.size() != oshape.size() || (s[1] != oshape[1] && s[1] != 1)) op.kind = OpKind::Opaque;
        }
      } else {
        op.kind = OpKind::Opaque;
      }
    }
    for (size_t i = 0; i < op.inputs.size(); ++i) impl->consumers[op.inputs[i]].push_back({n, i});
  }
  // Forward order: the DFS above visits outputs first; sequence numbers grow
  // with forward order.
  std::sort(impl->convs.begin(), impl->convs.end(), [&](const ConvInfo& a, const ConvInfo& b) {
    return impl->conv_by_module.at(a.module)->sequence_nr() < impl->conv_by_module.at(b.module)->sequence_nr();
  });
  std::sort(impl->linears.begin(), impl->linears.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& l : impl->linears) impl->linears_in_order.push_back(l.second);
  (void)order;
  return DependencyGraph(std::move(impl));
}

}  // namespace compress::prune
