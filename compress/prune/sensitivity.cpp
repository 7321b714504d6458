#include "compress/prune/sensitivity.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "compress/prune/names.h"
#include "compress/prune/prune_stage.h"
#include "compress/prune/report.h"
#include "train/config/config.h"
#include "train/data/coco_json.h"
#include "train/data/reader.h"
#include "train/engine/device.h"
#include "train/engine/distributed.h"
#include "train/engine/evaluate.h"
#include "train/engine/shared_jobs.h"
#include "train/engine/trainer.h"
#include "train/util/atomic_file.h"
#include "train/util/draw.h"
#include "train/util/error.h"
#include "train/util/plot.h"
#include "train/util/progress.h"

namespace compress::prune {
namespace fs = std::filesystem;

Sensitivities read_sensitivities(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("sensitivities file '", path, "' cannot be read");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    fail("sensitivities file '", path, "': not JSON (", e.what(), ")");
  }
  if (!j.contains("sensitivities") || !j["sensitivities"].is_object())
    fail("sensitivities file '", path, "': no 'sensitivities' object (write it with `compress sensitivity`)");
  Sensitivities s;
  for (const auto& [param, losses] : j["sensitivities"].items()) {
    if (!losses.is_object()) fail("sensitivities file '", path, "': '", param, "' is not a ratio -> loss object");
    for (const auto& [ratio, loss] : losses.items()) {
      char* end = nullptr;
      const double r = std::strtod(ratio.c_str(), &end);
      if (*end != '\0' || !(r > 0 && r < 1) || !loss.is_number())
        fail("sensitivities file '", path, "': '", param, "' has a bad entry '", ratio, "': ", loss.dump());
      s[param][r] = loss.get<double>();
    }
  }
  return s;
}

void write_sensitivities(const std::string& path, const Sensitivities& s, double base_ap, const nlohmann::json& key) {
  nlohmann::json j;
  j["metric"] = "AP";
  if (!key.is_null()) j["key"] = key;
  j["base_ap"] = base_ap;
  j["loss"] = "(AP_base - AP) / AP_base";
  nlohmann::json sens = nlohmann::json::object();
  for (const auto& [param, losses] : s)
    for (const auto& [r, l] : losses) sens[param][fmt::format("{:.4g}", r)] = l;
  j["sensitivities"] = sens;
  if (const auto dir = fs::path(path).parent_path(); !dir.empty()) fs::create_directories(dir);
  write_file_atomic(path, j.dump(1) + "\n");
}

std::map<std::string, double> ratios_by_loss(const Sensitivities& s, double max_loss) {
  std::map<std::string, double> out;
  for (const auto& [param, losses] : s) {
    const std::vector<std::pair<double, double>> v(losses.begin(), losses.end());  // ascending ratio
    for (size_t i = v.size(); i-- > 0;) {
      if (v[i].second > max_loss) continue;
      if (i + 1 == v.size()) {
        out[param] = v[i].first;
      } else {
        const auto [r0, l0] = v[i];
        const auto [r1, l1] = v[i + 1];
        out[param] = r0 + (max_loss - l0) * (r1 - r0) / (l1 - l0);  // l1 > max_loss >= l0
      }
      break;
    }
  }
  return out;
}

void plot_sensitivities(const Sensitivities& s, const std::string& png) {
  std::vector<Series> series;
  for (const auto& [param, losses] : s) {
    Series ser;
    // Short legend labels: "blocks.4.expand" for "backbone.blocks.4.expand.conv.weight".
    std::string label = param;
    if (label.rfind("backbone.", 0) == 0) label = label.substr(9);
    if (label.size() > 12 && label.compare(label.size() - 12, 12, ".conv.weight") == 0) label.resize(label.size() - 12);
    ser.name = label;
    for (const auto& [r, l] : losses) {
      ser.x.push_back(r);
      ser.y.push_back(l);
    }
    series.push_back(ser);
  }
  const cv::Mat img = line_chart("pruning sensitivity: (AP_base - AP) / AP_base", "ratio of channels removed", series,
                                 1000, std::max(420, 60 + 20 * static_cast<int>(series.size())));
  write_image(png, img);
}

namespace {

// What an earlier analysis must share with this one for its measurements to be
// reused: the weights file, the criterion, the trace size and the evaluation.
nlohmann::json sensitivity_key(const Config& cfg, const std::string& weights, const std::string& criterion,
                               int64_t size) {
  return {{"weights", weights},     {"weights_bytes", static_cast<int64_t>(fs::file_size(weights))},
          {"criterion", criterion}, {"group_score", cfg.get<std::string>("prune.group_score")},
          {"input_size", size},     {"eval_reader", reader_identity(cfg, "EvalReader")}};
}

}  // namespace

Sensitivities run_sensitivity(const Config& cfg, const SensitivityOptions& o) {
  const std::string weights = cfg.get<std::string>("pretrain_weights");
  if (weights.empty()) fail("sensitivity: -o pretrain_weights=CHECKPOINT is required (the trained model to analyse)");
  for (double r : o.ratios)
    if (!(r > 0 && r < 1)) usage_fail("--ratios: ", r, " is outside (0, 1) (the fraction of channels removed)");
  (void)make_criterion(o.criterion);
  const std::string out = o.output.empty() ? default_run_dir(cfg) + "_sensitivity/sensitivities.json" : o.output;
  const std::string png = o.plot.empty() ? (fs::path(out).replace_extension(".png")).string() : o.plot;
  const int64_t size = eval_input_size(cfg, cfg.get<int64_t>("prune.input_size"), "sensitivity");

  // Under a launcher the ranks share the evaluations (run_shared_jobs); rank 0
  // alone reads and writes the file. Every rank evaluates on its own device
  // (use_gpu) and the whole EvalReader.
  const DistEnv env = dist_env_from_environment();
  const auto dist = env.enabled() ? dist_init(cfg) : nullptr;
  const bool is_main = !dist || dist->is_main();
  const auto device = training_device(cfg, env.local_rank);

  auto model = load_unquantized(cfg, weights);
  std::vector<PruneSpec> specs = resolve_specs(o.params, {0.0}, conv_weight_names(*model));
  const EvalRun base_run = evaluate_on_reader(cfg, *model, dist.get(), /*progress=*/false);  // shared under a launcher

  // Rank 0's plan: the base AP, then the (layer, ratio) pairs not measured yet.
  // Earlier measurements with the same key are kept, other layers' included,
  // and reused: a killed analysis resumes (with any number of processes), and
  // a wider one adds to the file. (PaddleSlim's sensitivity() reloads its file the same way.)
  const nlohmann::json key = sensitivity_key(cfg, weights, o.criterion, size);
  Sensitivities s;
  std::vector<std::array<double, 2>> plan;  // {base AP, 0}, then {layer, ratio} indices
  if (is_main) {
    const double base = base_run.result.stats.ap();
    spdlog::info("sensitivity of {} layers at {} ratios; base AP {:.4f}", specs.size(), o.ratios.size(), base);
    plan.push_back({base, 0.0});
    if (base > 0) {
      read_earlier_results(out, key, "ratio", [&](const nlohmann::json&) { s = read_sensitivities(out); });
      auto measured = [&](const std::string& param, double r) {
        const auto it = s.find(param);
        if (it == s.end()) return false;
        for (const auto& [have, loss] : it->second)
          if (std::abs(have - r) < 1e-4) return true;  // the file keeps 4 significant digits
        return false;
      };
      for (size_t i = 0; i < specs.size(); ++i)
        for (size_t j = 0; j < o.ratios.size(); ++j)
          if (!measured(specs[i].conv + ".weight", o.ratios[j])) plan.push_back({double(i), double(j)});
      const size_t total = specs.size() * o.ratios.size(), reused = total - (plan.size() - 1);
      if (reused > 0) spdlog::info("resuming: {} of {} evaluations already measured in '{}'", reused, total, out);
    }
  }
  // Every rank gets rank 0's plan.
  auto plan_rows = torch::empty({static_cast<int64_t>(plan.size()), 2}, torch::kFloat64);
  for (size_t i = 0; i < plan.size(); ++i) plan_rows[i][0] = plan[i][0], plan_rows[i][1] = plan[i][1];
  if (dist) plan_rows = dist->rows_from_rank0(plan_rows);
  const double base = plan_rows[0][0].item<double>();
  if (base <= 0) fail("sensitivity: the model's base AP is ", base, "; relative losses need a trained model");
  const int64_t pending = plan_rows.size(0) - 1;
  auto pair = [&](int64_t job) {
    return std::make_pair(specs[static_cast<size_t>(plan_rows[job + 1][0].item<double>())].conv,
                          o.ratios[static_cast<size_t>(plan_rows[job + 1][1].item<double>())]);
  };

  auto ds = load_dataset(cfg, "EvalReader");
  auto loader = make_loader(cfg, "EvalReader", ds);
  Progress prog("sensitivity", pending, "eval", 0.0);
  int64_t done = 0;
  run_shared_jobs(
      dist.get(), pending, cfg.get<double>("distributed.timeout_s"), "sensitivity",
      [&](int64_t job) {
        const auto [conv, r] = pair(job);
        auto m = load_unquantized(cfg, weights);  // restore: a fresh copy of the weights
        prune_model(*m, {{conv, r}}, o.criterion, size, 1,
                    group_score_from_name(cfg.get<std::string>("prune.group_score")));
        m->to(device);
        return run_evaluation(*m, *loader, *ds, /*progress=*/false).result.stats.ap();
      },
      [&](int64_t job, double ap) {
        const auto [conv, r] = pair(job);
        s[conv + ".weight"][r] = (base - ap) / base;
        if (!is_main) return;
        write_sensitivities(out, s, base, key);  // after every evaluation: a killed run keeps its results
        prog.update(++done, fmt::format("{} @ {:.2f}: AP {:.4f}", conv, r, ap));
      });
  if (!is_main) return {};
  write_sensitivities(out, s, base, key);
  plot_sensitivities(s, png);
  spdlog::info("sensitivities in {} and {}", out, png);
  return s;
}

}  // namespace compress::prune
