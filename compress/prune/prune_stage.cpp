#include "compress/prune/prune_stage.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "compress/model_io.h"
#include "compress/prune/names.h"
#include "compress/prune/pruner.h"
#include "train/config/config.h"
#include "train/data/reader.h"
#include "train/engine/distributed.h"
#include "train/util/atomic_file.h"

namespace compress::prune {
namespace fs = std::filesystem;

std::shared_ptr<DetectorImpl> load_unquantized(const Config& cfg, const std::string& weights) {
  return load_float_detector(cfg, weights, "prune the float model, then quantize the pruned one");
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

PruneShapes prune_shapes(const Config& cfg, torch::nn::Module& model, const std::string& criterion) {
  Detector fresh = build_detector(cfg);
  return PruneShapes{shapes_json(model, *fresh), criterion};
}

StageRules prune_stage_rules(const std::string& random_init) {
  StageRules rules;
  rules.refuse_resume = [](const ModelTransforms& t) -> std::string {
    if (t.quant) return "is a QAT checkpoint; prune the float model, then quantize the pruned one";
    if (!t.prune) return "is not a pruned checkpoint; to prune float weights use -o pretrain_weights=";
    return "";
  };
  rules.qat_weights_hint = "prune the float model, then quantize the pruned one";
  rules.random_init = random_init;
  return rules;
}

}  // namespace compress::prune
