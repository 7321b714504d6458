#include "compress/prune/pruner.h"

#include <spdlog/spdlog.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "train/engine/optim_state.h"
#include "train/util/error.h"

namespace compress::prune {
namespace {

std::map<std::string, std::shared_ptr<torch::nn::Module>> modules_by_path(torch::nn::Module& model) {
  std::map<std::string, std::shared_ptr<torch::nn::Module>> m;
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) m[item.key()] = item.value();
  return m;
}

std::vector<int64_t> complement(int64_t n, const std::set<int64_t>& removed) {
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < n; ++i)
    if (!removed.count(i)) keep.push_back(i);
  return keep;
}

// set_data keeps a parameter's cached gradient accumulator, whose recorded
// shape is now wrong; a backward pass through a graph that reuses it would
// reject the new gradient. Dropping the cache makes the next graph build a new one.
void forget_grad_accumulator(const torch::Tensor& t) {
  if (auto* meta = torch::autograd::impl::get_autograd_meta(t)) meta->grad_accumulator_.reset();
}

// Slicing a parameter or buffer in place (same TensorImpl, so optimizer state
// keys and module references stay valid); records the slice for the optimizer.
struct Slicer {
  std::map<const c10::TensorImpl*, std::vector<std::pair<int64_t, torch::Tensor>>> done;  // param -> (dim, index)

  void operator()(torch::Tensor& t, int64_t dim, const std::vector<int64_t>& keep) {
    if (!t.defined()) return;
    const auto idx = torch::tensor(keep, torch::kLong).to(t.device());
    torch::NoGradGuard no_grad;
    t.set_data(t.index_select(dim, idx).contiguous());
    forget_grad_accumulator(t);
    if (t.grad().defined()) t.mutable_grad() = t.grad().index_select(dim, idx).contiguous();
    done[t.unsafeGetTensorImpl()].push_back({dim, idx});
  }
};

torch::Tensor slice_like(const torch::Tensor& s, const std::vector<std::pair<int64_t, torch::Tensor>>& cuts) {
  if (!s.defined() || s.dim() == 0) return s;
  torch::Tensor r = s;
  for (const auto& [dim, idx] : cuts) r = r.index_select(dim, idx.to(r.device()));
  return r.contiguous();
}

void slice_optimizer(torch::optim::Optimizer& opt, const Slicer& sl) {
  map_optimizer_state(opt, [&](const torch::Tensor& p, const torch::Tensor& s) {
    const auto cuts = sl.done.find(p.unsafeGetTensorImpl());
    return cuts == sl.done.end() ? s : slice_like(s, cuts->second);
  });
}

}  // namespace

GroupScore group_score_from_name(const std::string& name) {
  if (name == "named") return GroupScore::Named;
  if (name == "sum") return GroupScore::Sum;
  fail("prune.group_score '", name, "': use named or sum");
}

const std::vector<std::string>& group_score_names() {
  static const std::vector<std::string> names{"named", "sum"};
  return names;
}

int64_t removed_count(int64_t channels, double ratio) {
  // nearbyint rounds in the current mode, which is to-nearest-even unless changed.
  return static_cast<int64_t>(std::nearbyint(static_cast<double>(channels) * ratio));
}

int64_t kept_count(int64_t channels, double ratio, int64_t round_to) {
  TORCH_CHECK(round_to >= 1, "kept_count: round_to must be >= 1, got ", round_to);
  int64_t keep = std::max<int64_t>(1, channels - removed_count(channels, ratio));
  if (round_to > 1 && keep < channels) {
    // Nearest multiple, halves up; one block at least; never above the group.
    keep = std::max(round_to, (keep + round_to / 2) / round_to * round_to);
    keep = std::min(keep, channels);
  }
  return keep;
}

PrunePlan plan_pruning(torch::nn::Module& model, const DependencyGraph& graph, const std::vector<PruneSpec>& specs,
                       const Criterion& criterion, int64_t round_to, GroupScore group_score, bool skip_coupled) {
  if (round_to < 1) fail("prune.round_to is ", round_to, "; it must be 1 (no rounding) or more");
  const auto modules = modules_by_path(model);
  PrunePlan plan;
  std::map<std::string, std::string> owner;  // ConvOut module -> the spec whose group holds it
  for (const auto& spec : specs) {
    if (!(spec.ratio >= 0.0 && spec.ratio < 1.0))
      fail("pruned ratio for '", spec.conv, "' is ", spec.ratio, "; ratios are in [0, 1)");
    {
      const auto it = modules.find(spec.conv);
      const auto* named = it == modules.end() ? nullptr : it->second->as<torch::nn::Conv2d>();
      if (named) {
        const int64_t groups = named->options.groups(), in = named->options.in_channels();
        if (groups > 1 && !(groups == in && groups == named->options.out_channels()))
          fail("'", spec.conv, ".weight' is a grouped conv (", groups, " groups of ", in / groups,
               " input channels) that is not depthwise: pruning its output channels would break its groups; "
               "name the conv that feeds it or a depthwise conv instead");
      }
    }
    ChannelGroup g = graph.group_of(spec.conv);
    if (!g.blocked.empty()) fail("'", spec.conv, ".weight' cannot be pruned: ", g.blocked);
    // Named (the reference's rule): the named conv's own filters decide for the
    // whole group, depthwise or not. Sum: every coupled producer's score added
    // per root channel. With one producer the two agree.
    std::string taken_by;
    for (const auto& m : g.members)
      if (const auto o = owner.find(m.module); m.kind == MemberKind::ConvOut && o != owner.end()) taken_by = o->second;
    if (!taken_by.empty()) {
      if (!skip_coupled)
        fail("'", spec.conv, "' and '", taken_by, "' share one channel group (coupled by an add, concat or ",
             "depthwise conv); name only one of them");
      spdlog::warn(
          "'{}.weight' shares a channel group with '{}.weight', chosen first; skipping it (as the reference "
          "skips a layer of a group already collected)",
          spec.conv, taken_by);
      continue;
    }
    for (const auto& m : g.members)
      if (m.kind == MemberKind::ConvOut) owner[m.module] = spec.conv;
    auto score = torch::zeros({g.channels}, torch::kDouble);
    bool scored = false;
    for (const auto& m : g.members) {
      const bool producer = m.kind == MemberKind::ConvOut || m.kind == MemberKind::Depthwise;
      const bool counts = group_score == GroupScore::Sum ? m.kind == MemberKind::ConvOut : m.module == spec.conv;
      if (!producer || !counts) continue;
      const auto* conv = modules.at(m.module)->as<torch::nn::Conv2d>();
      const auto s = criterion(conv->weight).narrow(0, m.begin, m.length);
      score.narrow(0, m.root_begin, m.length).add_(s);
      scored = true;
    }
    if (!scored) fail("'", spec.conv, ".weight': no filter of it scores its channel group");
    if (removed_count(g.channels, spec.ratio) >= g.channels)
      spdlog::warn("pruning '{}' by {} would leave no channel of {}; keeping {}", spec.conv, spec.ratio, g.channels,
                   kept_count(g.channels, spec.ratio, round_to));
    const int64_t remove = g.channels - kept_count(g.channels, spec.ratio, round_to);
    PrunedGroup pg;
    pg.conv = spec.conv;
    pg.ratio = spec.ratio;
    pg.before = g.channels;
    pg.kept = kept_channels(score, remove);
    pg.after = static_cast<int64_t>(pg.kept.size());
    pg.members = g.members;
    std::set<int64_t> kept(pg.kept.begin(), pg.kept.end());
    for (const auto& m : g.members) {
      auto& dst = m.kind == MemberKind::ConvIn ? plan.remove_in[m.module] : plan.remove_out[m.module];
      for (int64_t i = 0; i < m.length; ++i)
        if (!kept.count(m.root_begin + i)) dst.insert(m.begin + i);
    }
    plan.groups.push_back(std::move(pg));
  }
  return plan;
}

KeptIndices apply_plan(torch::nn::Module& model, const PrunePlan& plan, torch::optim::Optimizer* optimizer) {
  const auto modules = modules_by_path(model);
  Slicer slice;
  KeptIndices kept;
  auto find = [&](const std::string& path) {
    const auto it = modules.find(path);
    TORCH_CHECK(it != modules.end(), "apply_plan: no module '", path, "'");
    return it->second;
  };
  for (const auto& [path, removed] : plan.remove_out) {
    if (removed.empty()) continue;
    auto m = find(path);
    if (auto* c = m->as<torch::nn::Conv2d>()) {
      const int64_t n = c->weight.size(0);
      const auto keep = complement(n, removed);
      const auto k = static_cast<int64_t>(keep.size());
      slice(c->weight, 0, keep);
      slice(c->bias, 0, keep);
      const bool depthwise = c->options.groups() > 1;
      c->options.out_channels(k);
      if (depthwise) c->options.in_channels(k).groups(k);  // (C, 1, kh, kw): in, out and groups together
      kept[path + ".out"] = keep;
    } else if (auto* b = m->as<torch::nn::BatchNorm2d>()) {
      const auto keep = complement(b->running_mean.size(0), removed);
      slice(b->weight, 0, keep);
      slice(b->bias, 0, keep);
      slice(b->running_mean, 0, keep);
      slice(b->running_var, 0, keep);
      b->options.num_features(static_cast<int64_t>(keep.size()));
      kept[path + ".out"] = keep;
    } else {
      fail("apply_plan: '", path, "' is neither a Conv2d nor a BatchNorm2d");
    }
  }
  for (const auto& [path, removed] : plan.remove_in) {
    if (removed.empty()) continue;
    auto* c = find(path)->as<torch::nn::Conv2d>();
    TORCH_CHECK(c && c->options.groups() == 1, "apply_plan: '", path, "' is not a dense conv");
    const auto keep = complement(c->weight.size(1), removed);
    slice(c->weight, 1, keep);
    c->options.in_channels(static_cast<int64_t>(keep.size()));
    kept[path + ".in"] = keep;
  }
  if (optimizer) slice_optimizer(*optimizer, slice);
  return kept;
}

std::string shapes_json(torch::nn::Module& model, torch::nn::Module& fresh) {
  const auto ref = modules_by_path(fresh);
  nlohmann::json mods = nlohmann::json::object();
  for (const auto& [path, m] : modules_by_path(model)) {
    const auto r = ref.find(path);
    TORCH_CHECK(r != ref.end(), "shapes_json: '", path, "' is not in the reference model");
    if (auto* c = m->as<torch::nn::Conv2d>()) {
      const auto& a = c->options;
      const auto& b = r->second->as<torch::nn::Conv2d>()->options;
      if (a.in_channels() != b.in_channels() || a.out_channels() != b.out_channels() || a.groups() != b.groups())
        mods[path] = {{"in", a.in_channels()}, {"out", a.out_channels()}, {"groups", a.groups()}};
    } else if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      if (bn->options.num_features() != r->second->as<torch::nn::BatchNorm2d>()->options.num_features())
        mods[path] = {{"features", bn->options.num_features()}};
    }
  }
  return nlohmann::json{{"modules", mods}}.dump();
}

void apply_shapes(torch::nn::Module& model, const std::string& json, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const std::exception& e) {
    fail("checkpoint '", source, "': unreadable prune shapes (", e.what(), ")");
  }
  if (!j.contains("modules") || !j["modules"].is_object())
    fail("checkpoint '", source, "': meta.transforms.prune has no 'modules' object");
  const auto modules = modules_by_path(model);
  torch::NoGradGuard no_grad;
  auto resize = [](torch::Tensor& t, std::vector<int64_t> shape) {
    if (!t.defined()) return;
    t.set_data(torch::zeros(shape, t.options()));
    forget_grad_accumulator(t);
  };
  for (const auto& [path, s] : j["modules"].items()) {
    const auto it = modules.find(path);
    if (it == modules.end()) fail("checkpoint '", source, "': pruned module '", path, "' is not in the model");
    try {
      if (auto* c = it->second->as<torch::nn::Conv2d>()) {
        const int64_t in = s.at("in"), out = s.at("out"), groups = s.at("groups");
        if (in <= 0 || out <= 0 || groups <= 0 || in % groups || out % groups) fail("bad shape ", s.dump());
        c->options.in_channels(in).out_channels(out).groups(groups);
        auto ws = c->weight.sizes().vec();
        ws[0] = out;
        ws[1] = in / groups;
        resize(c->weight, ws);
        resize(c->bias, {out});
      } else if (auto* b = it->second->as<torch::nn::BatchNorm2d>()) {
        const int64_t n = s.at("features");
        if (n <= 0) fail("bad shape ", s.dump());
        b->options.num_features(n);
        for (auto* t : {&b->weight, &b->bias, &b->running_mean, &b->running_var}) resize(*t, {n});
      } else {
        fail("it is neither a Conv2d nor a BatchNorm2d");
      }
    } catch (const nlohmann::json::exception& e) {
      fail("checkpoint '", source, "': pruned module '", path, "': ", e.what());
    } catch (const Error& e) {
      fail("checkpoint '", source, "': pruned module '", path, "': ", e.what());
    }
  }
}

}  // namespace compress::prune
