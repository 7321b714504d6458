#include "compress/prune/report.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "compress/prune/flops.h"
#include "compress/prune/trace.h"
#include "train/models/detector.h"
#include "train/util/draw.h"
#include "train/util/error.h"
#include "train/util/plot.h"

namespace compress::prune {
namespace {

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
                        int64_t input_size, int64_t round_to, GroupScore score, bool skip_coupled) {
  PruneReport r;
  r.criterion = criterion;
  r.input_size = input_size;
  std::map<std::string, ConvCost> cost_before;
  PrunePlan plan;
  {
    const DependencyGraph before = trace_detector(model, input_size);  // released before slicing
    for (const auto& c : conv_costs(before)) {
      add_use(cost_before, c);
      r.flops_before += c.flops;
      if (c.module.rfind("backbone.", 0) != 0) r.head_flops_before += c.flops;
    }
    plan = plan_pruning(model, before, specs, make_criterion(criterion), round_to, score, skip_coupled);
  }
  r.params_before = count_params(model);
  r.kept = apply_plan(model, plan);
  r.groups = plan.groups;
  const DependencyGraph after = trace_detector(model, input_size);
  std::map<std::string, ConvCost> cost_after;
  std::vector<std::string> order;  // traced order, each conv once
  for (const auto& c : conv_costs(after)) {
    if (!cost_after.count(c.module)) order.push_back(c.module);
    add_use(cost_after, c);
    r.flops_after += c.flops;
    if (c.module.rfind("backbone.", 0) != 0) r.head_flops_after += c.flops;
  }
  r.params_after = count_params(model);
  for (const auto& m : order) {
    const ConvCost &b = cost_before.at(m), &a = cost_after.at(m);
    r.convs.push_back({m, b.params, a.params, b.flops, a.flops});
  }
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
  std::string s =
      fmt::format("| pruned parameter | ratio | channels | params | FLOPs ({}x{}) |\n|---|---|---|---|---|\n",
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
  j["flops_unit"] =
      "multiply-adds per image, as PaddleSlim counts them (convs without a bias term, fully connected layers per row)";
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
  nlohmann::json convs_j = nlohmann::json::array();
  for (const auto& c : convs)
    convs_j.push_back({{"module", c.module},
                       {"params", {c.params_before, c.params_after}},
                       {"flops", {c.flops_before, c.flops_after}}});
  j["convs"] = convs_j;
  j["kept"] = kept;
  return j.dump(1);
}

void plot_prune_report(const PruneReport& r, const std::string& png) {
  constexpr size_t kRows = 40;
  std::vector<size_t> changed;
  for (size_t i = 0; i < r.convs.size(); ++i)
    if (r.convs[i].flops_after != r.convs[i].flops_before) changed.push_back(i);
  const size_t n_changed = changed.size();
  if (changed.size() > kRows) {  // the largest savings, then back in model order
    std::stable_sort(changed.begin(), changed.end(), [&](size_t a, size_t b) {
      return r.convs[a].flops_before - r.convs[a].flops_after > r.convs[b].flops_before - r.convs[b].flops_after;
    });
    changed.resize(kRows);
    std::sort(changed.begin(), changed.end());
  }
  std::vector<std::string> labels, texts;
  std::vector<double> before, after;
  for (size_t i : changed) {
    const auto& c = r.convs[i];
    std::string name = c.module;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".conv") == 0) name.resize(name.size() - 5);
    labels.push_back(name);
    before.push_back(c.flops_before / 1e6);
    after.push_back(c.flops_after / 1e6);
    texts.push_back(fmt::format("{} -> {} ({})", human(c.flops_before), human(c.flops_after),
                                pct_drop(c.flops_before, c.flops_after)));
  }
  std::string title =
      fmt::format("multiply-adds per conv at {0}x{0}, before (grey) and after pruning: model {1} -> {2} ({3})",
                  r.input_size, human(r.flops_before), human(r.flops_after), pct_drop(r.flops_before, r.flops_after));
  const std::string axis =
      n_changed > changed.size()
          ? fmt::format("millions per image; the {} of {} changed convs that lost the most", changed.size(), n_changed)
          : fmt::format("millions per image; the {} convs pruning changed", n_changed);
  const cv::Mat img = before_after_chart(title, axis, labels, before, after, texts, 1100);
  write_image(png, img);
}

}  // namespace compress::prune
