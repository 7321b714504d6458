#include "compress/prune/prune_options.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "compress/prune/report.h"
#include "compress/prune/sensitivity.h"
#include "train/config/config.h"
#include "train/data/reader.h"
#include "train/engine/evaluate.h"
#include "train/models/detector.h"
#include "train/util/error.h"

namespace compress::prune {

void fill_from_config(PruneRunOptions& o, const Config& cfg) {
  if (o.criterion.empty()) o.criterion = cfg.get<std::string>("prune.criterion");
  if (o.params.empty() && o.sensitivities.empty()) {
    o.params = cfg.get<std::vector<std::string>>("prune.pruned_params");
    if (o.ratios.empty())
      for (double r : cfg.get<std::vector<double>>("prune.pruned_ratios")) o.ratios.push_back(fmt::format("{}", r));
  }
}

namespace {

// The file's layers that --pruned_params picks (all of them without it). A
// sensitivity file grows as reruns add layers; a glob filters them, a plain
// name must have been measured.
Sensitivities picked_layers(const Sensitivities& sens, const std::vector<std::string>& names,
                            const PruneRunOptions& o) {
  if (o.params.empty()) return sens;
  std::map<std::string, std::string> by_conv;  // conv path -> the file's key
  for (const auto& [param, losses] : sens) by_conv[resolve_specs({param}, {0.5}, names).at(0).conv] = param;
  Sensitivities picked;
  for (const auto& p : o.params) {
    for (const auto& s : resolve_specs({p}, {0.5}, names)) {
      if (const auto it = by_conv.find(s.conv); it != by_conv.end()) {
        picked[it->second] = sens.at(it->second);
      } else if (p.find('*') == std::string::npos) {
        fail("'", o.sensitivities, "' has no sensitivity for '", s.conv,
             ".weight' (--pruned_params): measure it with "
             "`compress sensitivity --pruned_params ",
             s.conv, ".weight --output ", o.sensitivities, "`");
      }
    }
  }
  if (picked.empty()) fail("--pruned_params selects none of the layers in '", o.sensitivities, "'");
  return picked;
}

// The specs the (picked) sensitivities give under `max_loss`; empty when no
// layer stays within it.
std::vector<PruneSpec> sensitivity_specs(const Sensitivities& sens, const std::vector<std::string>& names,
                                         double max_loss) {
  std::vector<PruneSpec> specs;
  for (const auto& [param, ratio] : ratios_by_loss(sens, max_loss)) {
    if (ratio <= 0) continue;
    const auto s = resolve_specs({param}, {std::min(ratio, 0.99)}, names);
    specs.insert(specs.end(), s.begin(), s.end());
  }
  // In model order, as the analysis measured them: of two layers in one
  // channel group, the earlier one is pruned and the later one skipped.
  auto position = [&](const PruneSpec& s) {
    return std::find(names.begin(), names.end(), s.conv + ".weight") - names.begin();
  };
  std::stable_sort(specs.begin(), specs.end(),
                   [&](const PruneSpec& a, const PruneSpec& b) { return position(a) < position(b); });
  return specs;
}

}  // namespace

std::vector<PruneSpec> specs_from_options(torch::nn::Module& model, const PruneRunOptions& o) {
  const auto names = conv_weight_names(model);
  if (!o.sensitivities.empty()) {
    if (!o.ratios.empty())
      fail("--pruned_ratios with --sensitivities: the file's losses and --max_loss choose the ratios");
    const auto specs =
        sensitivity_specs(picked_layers(read_sensitivities(o.sensitivities), names, o), names, o.max_loss);
    if (specs.empty()) fail("'", o.sensitivities, "': no selected layer stays within --max_loss ", o.max_loss);
    return specs;
  }
  if (o.params.empty()) fail("prune: --pruned_params (with --pruned_ratios) or --sensitivities is required");
  if (o.ratios.empty()) fail("prune: --pruned_ratios is required with --pruned_params");
  return resolve_specs(o.params, parse_ratios(o.ratios), names);
}

FlopsTarget max_loss_for_pruned_flops(const Config& cfg, DetectorImpl& model, const PruneRunOptions& o) {
  if (o.sensitivities.empty()) fail("--pruned_flops needs --sensitivities: the file's losses rank the layers");
  const auto names = conv_weight_names(model);
  const Sensitivities sens = picked_layers(read_sensitivities(o.sensitivities), names, o);
  double lo = 0, hi = 0;
  for (const auto& [param, losses] : sens)
    for (const auto& [ratio, loss] : losses) lo = std::min(lo, loss), hi = std::max(hi, loss);
  const int64_t size = eval_input_size(cfg, cfg.get<int64_t>("prune.input_size"), "prune");
  const int64_t round_to = cfg.get<int64_t>("prune.round_to");
  // FLOPs depend on the kept counts alone, not on which channels are kept:
  // each trial prunes a fresh model of the same shapes.
  const std::string shapes = [&] {
    Detector fresh = build_detector(cfg);
    return shapes_json(model, *fresh);
  }();
  auto removed_at = [&](double loss) {
    const auto specs = sensitivity_specs(sens, names, loss);
    if (specs.empty()) return 0.0;
    Detector m = build_detector(cfg);
    apply_shapes(*m, shapes, "the model being pruned");
    const PruneReport r = prune_model(*m, specs, o.criterion, size, round_to,
                                      group_score_from_name(cfg.get<std::string>("prune.group_score")),
                                      /*skip_coupled=*/true);
    return 1.0 - double(r.flops_after) / std::max<int64_t>(1, r.flops_before);
  };
  // The error for an unreachable budget says which layers fell short.
  const std::string layers = o.params.empty()
                                 ? fmt::format("its {} layers", sens.size())
                                 : fmt::format("the {} of its layers that --pruned_params picks", sens.size());
  FlopsTarget t = loss_for_pruned_flops(removed_at, o.pruned_flops, lo - 1.0, hi + 1.0, o.sensitivities, layers);
  // Rounded up to the 5 decimals logged, so that `--max_loss` with the logged
  // value prunes exactly this (a larger bound never removes less).
  t.max_loss = std::ceil(t.max_loss * 1e5) / 1e5;
  t.removed = removed_at(t.max_loss);
  ++t.trials;
  spdlog::info("--pruned_flops {}: --max_loss {:.5f} removes {:.1f}% of the FLOPs ({} trial prunings)", o.pruned_flops,
               t.max_loss, 100.0 * t.removed, t.trials);
  return t;
}

}  // namespace compress::prune
