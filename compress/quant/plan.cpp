#include "compress/quant/plan.h"

#include <torch/csrc/autograd/function.h>
#include <torch/torch.h>

#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "compress/quant/conv_quant.h"
#include "train/models/detector.h"
#include "train/util/error.h"

namespace compress::quant {

using torch::autograd::Node;
using Site = std::pair<ConvQuantImpl*, int64_t>;

struct QuantPlanRecorder {
  std::unordered_map<const Node*, Site> input_marks;  // the marker node in front of each quantized input
  std::map<Site, std::shared_ptr<Node>> outputs;      // each site's activated output
  std::map<Site, bool> after_act;                     // rounding after the activation (None, ReLU, ReLU6)
  std::map<ConvQuantImpl*, int64_t> sites;            // call sites seen per quantizer
  std::set<Site> seen_inputs;
  // The marked inputs, so that no marker node is freed (and its address
  // reused by another node) before the graph has been read.
  std::vector<torch::Tensor> keep_alive;
};

namespace {

// Autograd node types of ops that int8 runtimes run on int8 operands, leaving
// the rounding to whoever consumes their result.
bool grid_preserving(const Node& n) {
  static const std::unordered_set<std::string> ops = {"AddBackward0",
                                                      "MulBackward0",
                                                      "MeanBackward1",
                                                      "CatBackward0",
                                                      "UpsampleNearest2DBackward0",
                                                      "ReluBackward0",
                                                      "MaxPool2DWithIndicesBackward0"};
  std::string name = n.name();
  const auto colon = name.rfind("::");
  if (colon != std::string::npos) name = name.substr(colon + 2);
  return ops.count(name) > 0;
}

class Graph {
 public:
  Graph(const std::vector<torch::Tensor>& outputs, const QuantPlanRecorder& r) : r_(r) {
    std::vector<Node*> todo;
    for (const auto& t : outputs)
      if (t.defined() && t.grad_fn()) {
        roots_.insert(t.grad_fn().get());
        todo.push_back(t.grad_fn().get());
      }
    std::unordered_set<Node*> seen(todo.begin(), todo.end());
    while (!todo.empty()) {
      Node* n = todo.back();
      todo.pop_back();
      for (const auto& e : n->next_edges()) {
        if (!e.function) continue;
        consumers_[e.function.get()].push_back(n);
        if (seen.insert(e.function.get()).second) todo.push_back(e.function.get());
      }
    }
  }

  // True when every consumer of n reads it on an int8 grid (see plan.h).
  bool read_on_grid(const Node* n) {
    if (roots_.count(n)) return false;  // a model output stays float
    const auto it = consumers_.find(n);
    if (it == consumers_.end() || it->second.empty()) return false;
    for (const Node* c : it->second)
      if (!consumer_on_grid(c)) return false;
    return true;
  }

 private:
  bool consumer_on_grid(const Node* c) {
    if (r_.input_marks.count(c)) return true;  // a quantized conv's input
    const auto memo = memo_.find(c);
    if (memo != memo_.end()) return memo->second;
    const bool ok = grid_preserving(*c) && read_on_grid(c);
    memo_[c] = ok;
    return ok;
  }

  const QuantPlanRecorder& r_;
  std::unordered_set<const Node*> roots_;
  std::unordered_map<const Node*, std::vector<const Node*>> consumers_;
  std::unordered_map<const Node*, bool> memo_;
};

std::vector<ConvQuantImpl*> quantizers(torch::nn::Module& model) {
  std::vector<ConvQuantImpl*> qs;
  for (const auto& m : model.modules())
    if (auto* q = dynamic_cast<ConvQuantImpl*>(m.get())) qs.push_back(q);
  return qs;
}

// Clears the recorder pointers and restores the training mode, also on errors.
struct PlanningGuard {
  std::vector<ConvQuantImpl*> qs;
  torch::nn::Module& model;
  bool was_training;
  PlanningGuard(std::vector<ConvQuantImpl*> q, torch::nn::Module& m, QuantPlanRecorder* r)
      : qs(std::move(q)), model(m), was_training(m.is_training()) {
    for (auto* x : qs) {
      x->recorder = r;
      x->site = 0;
    }
    model.eval();
  }
  ~PlanningGuard() {
    for (auto* x : qs) {
      x->recorder = nullptr;
      x->site = 0;
    }
    model.train(was_training);
  }
};

}  // namespace

torch::Tensor record_input(QuantPlanRecorder& r, ConvQuantImpl& q, const torch::Tensor& x) {
  const Site s{&q, q.site};
  if (!r.seen_inputs.insert(s).second)
    fail("quantization plan: a quantized conv ran twice at call site ", q.site,
         " in one forward; its owner must call set_quant_site before each call");
  auto& n = r.sites[&q];
  n = std::max(n, q.site + 1);
  // A view gives this input its own autograd node, whose one edge is the producer.
  auto marked = x.view_as(x);
  TORCH_CHECK(marked.grad_fn(), "quantization plan: the planning input must require grad");
  r.input_marks[marked.grad_fn().get()] = s;
  r.keep_alive.push_back(marked);
  return marked;
}

torch::Tensor record_output(QuantPlanRecorder& r, ConvQuantImpl& q, const torch::Tensor& y, bool after_act) {
  const Site s{&q, q.site};
  TORCH_CHECK(y.grad_fn(), "quantization plan: a conv output without autograd history");
  r.outputs[s] = y.grad_fn();
  r.after_act[s] = after_act;
  auto& n = r.sites[&q];
  n = std::max(n, q.site + 1);
  return y;
}

PlanInput default_plan_input(torch::nn::Module& model) {
  auto* det = dynamic_cast<DetectorImpl*>(&model);
  if (!det) return {};
  // Large enough for every stride of every detector here (Cascade R-CNN's FPN to 1/64).
  return {[det](const torch::Tensor& x) { return det->forward(x); }, {1, 3, 160, 160}};
}

void plan_quantization(torch::nn::Module& model, const PlanInput& in) {
  const auto qs = quantizers(model);
  if (qs.empty()) return;
  if (!in.run) {
    for (auto* q : qs) q->set_plan(std::vector<SitePlan>(static_cast<size_t>(q->sites())));
    return;
  }
  QuantPlanRecorder rec;
  std::vector<torch::Tensor> outputs;
  {
    PlanningGuard guard(qs, model, &rec);
    torch::AutoGradMode grad(true);
    const auto device = model.parameters().empty() ? torch::Device(torch::kCPU) : model.parameters()[0].device();
    const auto x = torch::zeros(in.shape, torch::TensorOptions().device(device)).requires_grad_(true);
    outputs = in.run(x);
  }
  Graph g(outputs, rec);
  std::map<Site, bool> rounds;
  for (const auto& [site, node] : rec.outputs)
    rounds[site] = site.first->opt.quantize_outputs && g.read_on_grid(node.get());
  // Producer of each output node, to find inputs that are exactly a rounded output.
  std::unordered_map<const Node*, Site> producer;
  for (const auto& [site, node] : rec.outputs) producer[node.get()] = site;
  std::map<ConvQuantImpl*, std::vector<SitePlan>> plans;
  for (auto* q : qs) {
    // A quantizer that did not run (set_conv_float detached it) keeps its sites, planned float.
    const auto it = rec.sites.find(q);
    plans[q].resize(static_cast<size_t>(it == rec.sites.end() ? q->sites() : it->second));
  }
  for (const auto& [site, r] : rounds) plans[site.first][static_cast<size_t>(site.second)].round_output = r;
  for (const auto& [mark, site] : rec.input_marks) {
    const auto& edges = mark->next_edges();
    if (edges.empty() || !edges[0].function) continue;
    const auto p = producer.find(edges[0].function.get());
    if (p == producer.end()) continue;
    if (rounds.at(p->second) && rec.after_act.at(p->second)) {
      auto& sp = plans[site.first][static_cast<size_t>(site.second)];
      sp.input_on_grid = true;
      sp.producer = p->second.first;
      sp.producer_site = p->second.second;
    }
  }
  for (auto* q : qs) q->set_plan(plans[q]);
}

}  // namespace compress::quant
