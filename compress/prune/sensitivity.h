// Sensitivity analysis (PaddleSlim's `sensitivity` and `get_ratios_by_loss`):
// prune one conv at a time at each ratio, evaluate, restore, and record the
// relative AP loss (AP_base - AP) / AP_base. Ratios for a loss budget are then
// read off by linear interpolation.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace compress {
class Config;
}

namespace compress::prune {

// param -> ratio -> relative loss
using Sensitivities = std::map<std::string, std::map<double, double>>;

struct SensitivityOptions {
  std::vector<std::string> params;  // names or globs, as --pruned_params
  std::vector<double> ratios{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  std::string criterion = "l1_norm";
  std::string output;  // JSON; default RUN_DIR/sensitivities.json
  std::string plot;    // PNG; default beside the JSON
};

// Runs the analysis on the weights in cfg's pretrain_weights; writes the JSON
// after every evaluation. A rerun into the same file with the same weights,
// criterion and evaluation reuses what it holds (a killed run resumes) and
// keeps its other layers and ratios. Under a launcher (WORLD_SIZE > 1) the
// ranks share the evaluations (run_shared_jobs), and rank 0 writes and returns
// the result (the other ranks get an empty map).
Sensitivities run_sensitivity(const Config& cfg, const SensitivityOptions& o);

Sensitivities read_sensitivities(const std::string& path);
// `key` (optional) records what the measurements depend on, for resuming.
void write_sensitivities(const std::string& path, const Sensitivities& s, double base_ap,
                         const nlohmann::json& key = nullptr);

// Per param, the largest ratio whose loss stays <= max_loss: the last measured
// ratio under the bound, moved toward the next one by linear interpolation.
// Params whose smallest ratio already exceeds the bound are left out.
std::map<std::string, double> ratios_by_loss(const Sensitivities& s, double max_loss);

// A PNG line chart: loss against ratio, one line per param.
void plot_sensitivities(const Sensitivities& s, const std::string& png);

}  // namespace compress::prune
