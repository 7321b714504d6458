#include "compress/prune/run_prune.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "compress/model_io.h"
#include "compress/prune/flops_target.h"
#include "compress/prune/names.h"
#include "compress/prune/sensitivity.h"
#include "train/config/config.h"
#include "train/config/override_value.h"
#include "train/data/coco_json.h"
#include "train/data/reader.h"
#include "train/engine/checkpoint.h"
#include "train/engine/distributed.h"
#include "train/engine/evaluate.h"
#include "train/engine/trainer.h"
#include "train/util/atomic_file.h"
#include "train/util/error.h"

namespace compress::prune {
namespace fs = std::filesystem;

namespace {

// Under data parallelism the ranks share the images (the Trainer's process
// group, made here first); rank 0 logs, the others get -1.
double evaluate_ap(DetectorImpl& model, const Config& cfg, const std::string& what) {
  const auto dist = dist_init(cfg);
  const EvalRun run = evaluate_on_reader(cfg, model, dist.get());
  if (dist && !dist->is_main()) return -1;
  spdlog::info("{}: AP {:.4f} AP50 {:.4f}", what, run.result.stats.ap(), run.result.stats.ap50());
  return run.result.stats.ap();
}

}  // namespace

std::shared_ptr<DetectorImpl> load_unquantized(const Config& cfg, const std::string& weights) {
  return load_float_detector(cfg, weights, "prune the float model, then quantize the pruned one");
}

void fill_from_config(PruneRunOptions& o, const Config& cfg) {
  if (o.criterion.empty()) o.criterion = cfg.get<std::string>("prune.criterion");
  if (o.params.empty() && o.sensitivities.empty()) {
    o.params = cfg.get<std::vector<std::string>>("prune.pruned_params");
    if (o.ratios.empty())
      for (double r : cfg.get<std::vector<double>>("prune.pruned_ratios")) o.ratios.push_back(fmt::format("{}", r));
  }
}

PruneReport prune_and_report(const Config& cfg, DetectorImpl& model, const PruneRunOptions& o,
                             const std::string& run_dir) {
  const auto specs = specs_from_options(model, o);
  const int64_t size = eval_input_size(cfg, cfg.get<int64_t>("prune.input_size"), "prune");
  PruneReport report = prune_model(model, specs, o.criterion, size, cfg.get<int64_t>("prune.round_to"),
                                   group_score_from_name(cfg.get<std::string>("prune.group_score")),
                                   /*skip_coupled=*/!o.sensitivities.empty());
  // Every rank prunes its copy alike; rank 0 alone prints and writes the report.
  if (dist_env_from_environment().rank == 0) {
    std::cout << report.table();
    fs::create_directories(run_dir);
    write_file_atomic((fs::path(run_dir) / "prune_report.json").string(), report.to_json() + "\n");
    plot_prune_report(report, (fs::path(run_dir) / "prune_report.png").string());
  }
  // A small ratio can round to no channel at all (or, with round_to, back up to all).
  int64_t unchanged = 0;
  for (const auto& l : report.layers) unchanged += l.channels_after == l.channels_before;
  spdlog::info(
      "pruned {} layers{} ({}): head FLOPs -{:.1f}%, model FLOPs -{:.1f}%; report: {}/prune_report.json, "
      "prune_report.png",
      static_cast<int64_t>(report.layers.size()) - unchanged,
      unchanged ? fmt::format(", {} more kept every channel", unchanged) : std::string(), o.criterion,
      100.0 * (1.0 - double(report.head_flops_after) / std::max<int64_t>(1, report.head_flops_before)),
      100.0 * (1.0 - double(report.flops_after) / std::max<int64_t>(1, report.flops_before)), run_dir);
  return report;
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

std::string prune_transforms(const Config& cfg, torch::nn::Module& model, const PruneRunOptions& o) {
  Detector fresh = build_detector(cfg);
  nlohmann::json p = nlohmann::json::parse(shapes_json(model, *fresh));
  p["criterion"] = o.criterion;
  return nlohmann::json{{"prune", p}}.dump();
}

PruneRunResult run_prune(Config cfg, PruneRunOptions o) {
  fill_from_config(o, cfg);
  if (const auto n = cfg.get<int64_t>("prune.max_iters"); n > 0) apply_override(cfg, "max_iters=" + std::to_string(n));
  if (const auto lr = cfg.get<double>("prune.base_lr"); lr > 0)
    apply_override(cfg, "LearningRate.base_lr=" + override_value(lr));
  PruneRunResult res;
  res.run_dir = o.run_dir.empty() ? default_run_dir(cfg) + "_prune" : o.run_dir;
  TrainOptions to;
  to.eval = o.eval;
  to.run_dir = res.run_dir;

  Detector model;
  if (!o.resume.empty()) {
    const TrainState s = read_checkpoint_state(o.resume);
    if (s.transforms.find("\"prune\"") == std::string::npos)
      fail("checkpoint '", o.resume, "' is not a pruned checkpoint; to prune float weights use -o pretrain_weights=");
    model = build_detector(cfg);
    apply_transforms(model, s.transforms, o.resume);  // the pruned shapes; the Trainer loads the values
    to.resume = o.resume;
    to.transforms = s.transforms;
  } else {
    (void)make_criterion(o.criterion);  // a bad name fails before any work
    const std::string pretrain = cfg.get<std::string>("pretrain_weights");
    if (pretrain.empty()) {
      spdlog::warn("no pretrain_weights: pruning a randomly initialised model");
      model = build_detector(cfg);
    } else {
      model = load_unquantized(cfg, pretrain);
      spdlog::info("float weights from '{}'", pretrain);
    }
    if (o.pruned_flops > 0) o.max_loss = max_loss_for_pruned_flops(cfg, *model, o).max_loss;
    (void)specs_from_options(*model, o);  // bad names fail before the evaluation
    if (o.eval) res.ap_before = evaluate_ap(*model, cfg, "before pruning");
    res.report = prune_and_report(cfg, *model, o, res.run_dir);
    if (o.eval) res.ap_pruned = evaluate_ap(*model, cfg, "right after pruning");
    to.transforms = prune_transforms(cfg, *model, o);
    apply_override(cfg, "pretrain_weights=''");  // already loaded, before slicing
  }

  if (cfg.get<int64_t>("max_iters") <= 0) {
    TrainState st;
    st.config_yaml = cfg.dump();
    st.arch = model->arch();
    st.transforms = to.transforms;
    st.best_ap = res.ap_pruned;
    if (dist_env_from_environment().rank == 0)  // one checkpoint writer
      save_checkpoint((fs::path(res.run_dir) / "model_final.pt").string(), *model, nullptr, st);
    spdlog::info("no fine-tuning (max_iters 0); pruned model in {}/model_final.pt", res.run_dir);
    return res;
  }
  Trainer trainer(cfg, model, to);
  const TrainState st = trainer.train();
  res.ap_final = st.best_ap;
  if (o.eval) {
    nlohmann::json summary{
        {"ap_before", res.ap_before}, {"ap_pruned", res.ap_pruned}, {"ap_finetuned_best", res.ap_final}};
    write_file_atomic((fs::path(res.run_dir) / "prune_summary.json").string(), summary.dump(1) + "\n");
    spdlog::info("AP before {:.4f}, right after pruning {:.4f}, after fine-tuning (best snapshot) {:.4f}",
                 res.ap_before, res.ap_pruned, res.ap_final);
  }
  return res;
}

}  // namespace compress::prune
