#include "compress/prune/report.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "compress/prune/flops.h"
#include "compress/prune/trace.h"
#include "train/models/detector.h"

namespace compress::prune {
namespace {

DependencyGraph trace_model(torch::nn::Module& model, int64_t size) {
  auto* det = dynamic_cast<DetectorImpl*>(&model);
  TORCH_CHECK(det, "prune_model: the model is not a detector");
  return trace_graph(
      model, [det](const at::Tensor& x) { return det->forward(x); }, {1, 3, size, size});
}

int64_t count_params(torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

// A conv module run more than once (Cascade R-CNN's RPN head, shared by every
// FPN level) is one layer whose FLOPs are those of all its runs.
void add_use(std::map<std::string, ConvCost>& costs, const ConvCost& c) {
  auto& acc = costs[c.module];
  acc.module = c.module;
  acc.params = c.params;
  acc.flops += c.flops;
}

std::string human(int64_t v) {
  if (v >= 1000000000) return fmt::format("{:.2f}G", v / 1e9);
  if (v >= 1000000) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1000) return fmt::format("{:.1f}K", v / 1e3);
  return std::to_string(v);
}

std::string pct_drop(int64_t before, int64_t after) {
  return before > 0 ? fmt::format("-{:.1f}%", 100.0 * (before - after) / before) : "";
}

}  // namespace

std::vector<std::string> conv_weight_names(torch::nn::Module& model) {
  std::vector<std::string> out;
  for (const auto& m : model.named_modules("", /*include_self=*/false))
    if (m.value()->as<torch::nn::Conv2d>()) out.push_back(m.key() + ".weight");
  return out;
}

PruneReport prune_model(torch::nn::Module& model, const std::vector<PruneSpec>& specs, const std::string& criterion,
                        int64_t input_size, int64_t round_to) {
  PruneReport r;
  r.criterion = criterion;
  r.input_size = input_size;
  std::map<std::string, ConvCost> cost_before;
  PrunePlan plan;
  {
    const DependencyGraph before = trace_model(model, input_size);  // released before slicing
    for (const auto& c : conv_costs(before)) {
      add_use(cost_before, c);
      r.flops_before += c.flops;
      if (c.module.rfind("backbone.", 0) != 0) r.head_flops_before += c.flops;
    }
    plan = plan_pruning(model, before, specs, make_criterion(criterion), round_to);
  }
  r.params_before = count_params(model);
  r.kept = apply_plan(model, plan);
  r.groups = plan.groups;
  const DependencyGraph after = trace_model(model, input_size);
  std::map<std::string, ConvCost> cost_after;
  for (const auto& c : conv_costs(after)) {
    add_use(cost_after, c);
    r.flops_after += c.flops;
    if (c.module.rfind("backbone.", 0) != 0) r.head_flops_after += c.flops;
  }
  r.params_after = count_params(model);
  for (const auto& g : plan.groups) {
    LayerReport l;
    l.param = g.conv + ".weight";
    l.ratio = g.ratio;
    l.channels_before = g.before;
    l.channels_after = g.after;
    l.params_before = cost_before.at(g.conv).params;
    l.params_after = cost_after.at(g.conv).params;
    l.flops_before = cost_before.at(g.conv).flops;
    l.flops_after = cost_after.at(g.conv).flops;
    r.layers.push_back(l);
  }
  return r;
}

std::string PruneReport::table() const {
  std::string s = fmt::format("| pruned parameter | ratio | channels | params | FLOPs ({}x{}) |\n|---|---|---|---|---|\n",
                              input_size, input_size);
  for (const auto& l : layers)
    s += fmt::format("| {} | {:.3f} | {} -> {} | {} -> {} | {} -> {} |\n", l.param, l.ratio, l.channels_before,
                     l.channels_after, human(l.params_before), human(l.params_after), human(l.flops_before),
                     human(l.flops_after));
  s += fmt::format("| **head (outside backbone)** | | | | {} -> {} ({}) |\n", human(head_flops_before),
                   human(head_flops_after), pct_drop(head_flops_before, head_flops_after));
  s += fmt::format("| **model** | | | {} -> {} ({}) | {} -> {} ({}) |\n", human(params_before), human(params_after),
                   pct_drop(params_before, params_after), human(flops_before), human(flops_after),
                   pct_drop(flops_before, flops_after));
  return s;
}

std::string PruneReport::to_json() const {
  nlohmann::json j;
  j["criterion"] = criterion;
  j["input_size"] = input_size;
  j["flops_unit"] = "multiply-adds per image (PaddleSlim's count: conv + bias)";
  j["params"] = {{"before", params_before}, {"after", params_after}};
  j["flops"] = {{"before", flops_before}, {"after", flops_after}};
  j["head_flops"] = {{"before", head_flops_before}, {"after", head_flops_after}};
  nlohmann::json layers_j = nlohmann::json::array();
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    nlohmann::json coupled = nlohmann::json::array();
    for (const auto& m : groups[i].members) coupled.push_back(m.module);
    layers_j.push_back({{"param", l.param},
                        {"ratio", l.ratio},
                        {"channels", {l.channels_before, l.channels_after}},
                        {"params", {l.params_before, l.params_after}},
                        {"flops", {l.flops_before, l.flops_after}},
                        {"kept", groups[i].kept},
                        {"coupled", coupled}});
  }
  j["layers"] = layers_j;
  j["kept"] = kept;
  return j.dump(1);
}

}  // namespace compress::prune
