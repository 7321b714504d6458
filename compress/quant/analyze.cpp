#include "compress/quant/analyze.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <yaml-cpp/yaml.h>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <set>

#include "compress/model_io.h"
#include "compress/quant/qat.h"
#include "compress/quant/run_quant.h"
#include "train/config/config.h"
#include "train/config/suggest.h"
#include "train/data/coco_json.h"
#include "train/data/reader.h"
#include "train/engine/checkpoint.h"
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

namespace compress::quant {
namespace fs = std::filesystem;
namespace {

// What a previous analysis must share with this one for its measurements to
// be reused: the same weights file, quantizers, skip patterns, calibration and
// evaluation data (an AP on other images, or at another input size, is another
// number).
nlohmann::json run_key(const std::string& weights, const QuantOptions& qo, const Config& cfg, const std::string& mode) {
  return {{"mode", mode},
          {"weights", weights},
          {"weights_bytes", static_cast<int64_t>(fs::file_size(weights))},
          {"not_quant_pattern", qo.not_quant_pattern},
          {"weight_quantize_type", name_of(qo.weight_quantize_type)},
          {"activation_quantize_type", name_of(qo.activation_quantize_type)},
          {"weight_bits", qo.weight_bits},
          {"activation_bits", qo.activation_bits},
          {"moving_rate", qo.moving_rate},
          {"window_size", qo.window_size},
          {"quantize_outputs", qo.quantize_outputs},
          {"reduce_range", qo.reduce_range},
          {"round_after_activation", qo.round_after_activation},
          {"calib_batches", cfg.get<int64_t>("quant.calib_batches")},
          {"calib_data", YAML::Dump(cfg.at("TrainReader.dataset"))},
          {"eval_reader", reader_identity(cfg, "EvalReader")}};
}

// conv -> AP measured by an earlier run with the same key; empty when there is
// none, or it was made differently (then it is measured again, with a warning).
std::map<std::string, double> previous_results(const fs::path& json, const nlohmann::json& key) {
  std::map<std::string, double> out;
  const bool same = read_earlier_results(json.string(), key, "conv", [&](const nlohmann::json& j) {
    for (const auto& l : j.at("layers")) out[l.at("conv").get<std::string>()] = l.at("ap").get<double>();
  });
  if (!same) out.clear();  // a file that failed half-way through its layers
  if (!out.empty()) spdlog::info("resuming: {} convs already measured in '{}'", out.size(), json.string());
  return out;
}

void write_analysis(const fs::path& json, const nlohmann::json& key, const QuantAnalysis& a) {
  nlohmann::json j;
  j["metric"] = "AP";
  j["mode"] = a.mode;
  j["key"] = key;
  j["eval_images"] = a.eval_images;
  j["float_ap"] = a.float_ap;
  j["quant_ap"] = a.quant_ap;
  j["layers"] = nlohmann::json::array();
  const char* field = a.mode == "quant_one" ? "lost" : "recovered";
  for (const auto& l : a.layers) j["layers"].push_back({{"conv", l.conv}, {"ap", l.ap}, {field, l.sensitivity}});
  j["cumulative"] = nlohmann::json::array();
  for (const auto& c : a.cumulative) j["cumulative"].push_back({{"float_convs", c.convs}, {"ap", c.ap}});
  j["suggested_not_quant_pattern"] = a.suggested_pattern;
  write_file_atomic(json.string(), j.dump(1) + "\n");
}

std::vector<LayerSensitivity> most_sensitive_first(std::vector<LayerSensitivity> v) {
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.sensitivity > b.sensitivity; });
  return v;
}

void plot_analysis(const QuantAnalysis& a, const std::string& png) {
  std::vector<std::string> labels;
  std::vector<double> values;
  for (const auto& l : most_sensitive_first(a.layers)) {
    if (labels.size() == 30) break;
    std::string name = l.conv;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".conv") == 0) name.resize(name.size() - 5);
    labels.push_back(name);
    values.push_back(100 * l.sensitivity);
  }
  const bool quant_one = a.mode == "quant_one";
  const cv::Mat img = bar_chart(
      fmt::format("{} (float AP {:.1f}, quantized AP {:.1f})",
                  quant_one ? "AP lost by quantizing one conv alone" : "AP recovered by keeping one conv float",
                  100 * a.float_ap, 100 * a.quant_ap),
      quant_one ? "AP points (x100) under the float model" : "AP points (x100) over the all-quantized model", labels,
      values);
  write_image(png, img);
}

}  // namespace

const std::vector<std::string>& analysis_modes() {
  static const std::vector<std::string> modes{"float_one", "quant_one"};
  return modes;
}

std::vector<std::string> suggest_patterns(const QuantAnalysis& a, const std::vector<std::string>& skipped,
                                          const std::vector<std::string>& quantized) {
  const CumulativeFloat* best = nullptr;
  for (const auto& c : a.cumulative)
    if (c.ap > a.quant_ap && (!best || c.ap > best->ap)) best = &c;
  if (!best) return {};
  for (const auto& conv : best->convs)
    for (const auto& other : quantized)
      if (other != conv && matches(other, {conv})) return {};
  std::vector<std::string> out = skipped;
  out.insert(out.end(), best->convs.begin(), best->convs.end());
  return out;
}

std::string analysis_table(const QuantAnalysis& a, size_t top) {
  std::string s;
  size_t n = 0;
  if (a.mode == "quant_one") {
    s = "| quantized alone (the rest float) | AP | vs float |\n| --- | --- | --- |\n";
    for (const auto& l : most_sensitive_first(a.layers)) {
      if (n++ == top) break;
      s += fmt::format("| {} | {:.4f} | {:+.4f} |\n", l.conv, l.ap, -l.sensitivity);
    }
    s += "\n| kept float (the rest quantized) | AP | vs all quantized |\n| --- | --- | --- |\n";
    s += fmt::format("| nothing (every conv quantized) | {:.4f} | |\n", a.quant_ap);
  } else {
    s = "| kept float | AP | vs all quantized |\n| --- | --- | --- |\n";
    s += fmt::format("| nothing (every conv quantized) | {:.4f} | |\n", a.quant_ap);
    for (const auto& l : most_sensitive_first(a.layers)) {
      if (n++ == top) break;
      s += fmt::format("| {} | {:.4f} | {:+.4f} |\n", l.conv, l.ap, l.sensitivity);
    }
  }
  for (const auto& c : a.cumulative)
    s += fmt::format("| the {} above together | {:.4f} | {:+.4f} |\n",
                     c.convs.size() == 1 ? std::string("first") : fmt::format("first {}", c.convs.size()), c.ap,
                     c.ap - a.quant_ap);
  s += fmt::format("| every conv (the float model) | {:.4f} | {:+.4f} |\n", a.float_ap, a.float_ap - a.quant_ap);
  return s;
}

QuantAnalysis run_quant_analysis(Config cfg, const QuantAnalyzeOptions& o) {
  QuantOptions qo = quant_options_from_config(cfg);
  if (o.not_quant_pattern) qo.not_quant_pattern = *o.not_quant_pattern;
  validate(qo);
  const std::string weights = cfg.get<std::string>("pretrain_weights");
  if (weights.empty())
    fail("quant --analyze: -o pretrain_weights=FLOAT.pt is required (the trained float model to analyse)");
  if (!fs::exists(weights)) fail("weights file '", weights, "' does not exist");
  const auto& modes = analysis_modes();
  if (std::find(modes.begin(), modes.end(), o.mode) == modes.end())
    fail("quant --analyze_mode '", o.mode, "': use float_one or quant_one");
  const bool quant_one = o.mode == "quant_one";
  // One folder per mode: the two measure different things and resume separately.
  const fs::path run_dir = o.run_dir.empty()
                               ? default_run_dir(cfg) + (quant_one ? "_quant_analysis_quant_one" : "_quant_analysis")
                               : o.run_dir;

  // Float weights, pruned or not; a QAT checkpoint is refused.
  Detector model = load_float_detector(cfg, weights, "analyse the float weights it was trained from");
  const QuantReport rep = apply_qat(*model, qo);
  std::vector<std::string> convs;
  std::set<std::string> used;
  for (const auto& c : rep.quantized)
    if (o.layers.empty() || matches(c, o.layers, &used)) convs.push_back(c);
  for (const auto& l : o.layers)
    if (!used.count(l)) fail("--analyze_layers '", l, "' matches no quantized conv", did_you_mean(l, rep.quantized));

  // Under a launcher every rank calibrates on the same batches (the same
  // scales), the ranks share the evaluations (run_shared_jobs), and rank 0
  // alone reads and writes the files and prints. Each rank runs on its own
  // device (use_gpu) and evaluates on the whole EvalReader.
  // (The process group comes after calibration, as for PTQ: no all-reduce of
  // scales that agree anyway.)
  const DistEnv env = dist_env_from_environment();
  model->to(training_device(cfg, env.local_rank));
  calibrate(*model, cfg, cfg.get<int64_t>("quant.calib_batches"));
  const auto dist = env.enabled() ? dist_init(cfg) : nullptr;
  const bool is_main = !dist || dist->is_main();
  const double timeout = cfg.get<double>("distributed.timeout_s");
  auto ds = load_dataset(cfg, "EvalReader");
  auto loader = make_loader(cfg, "EvalReader", ds);
  auto eval = [&] { return run_evaluation(*model, *loader, *ds, /*progress=*/false).result.stats.ap(); };
  auto set_float = [&](const std::vector<std::string>& paths, bool keep_float) {
    for (const auto& p : paths) set_conv_float(*model, p, keep_float);
  };
  // Evaluations of the model with `paths` toggled to `keep_float`, the model restored after each.
  auto eval_with = [&](const std::vector<std::string>& paths, bool keep_float) {
    set_float(paths, keep_float);
    const double ap = eval();
    set_float(paths, !keep_float);
    return ap;
  };

  QuantAnalysis a;
  a.mode = o.mode;
  // Job 0 the float model, job 1 the all-quantized one (the state every job starts from).
  run_shared_jobs(
      dist.get(), 2, timeout, "quant --analyze",
      [&](int64_t job) { return job == 0 ? eval_with(rep.quantized, true) : eval(); },
      [&](int64_t job, double ap) { (job == 0 ? a.float_ap : a.quant_ap) = ap; });
  a.eval_images = static_cast<int64_t>(ds->size());
  spdlog::info("quant analysis ({}) of {} convs on {} images: float AP {:.4f}, all quantized AP {:.4f}", a.mode,
               convs.size(), a.eval_images, a.float_ap, a.quant_ap);

  a.json = (run_dir / "quant_analysis.json").string();
  a.png = (run_dir / "quant_analysis.png").string();
  const nlohmann::json key = run_key(weights, qo, cfg, a.mode);
  // Rank 0 reads the earlier measurements and every rank gets them: (conv
  // index, AP or NaN when it is to be measured), so all rank the same convs.
  auto known = torch::full({static_cast<int64_t>(convs.size()), 1}, std::nan(""), torch::kFloat64);
  if (is_main) {
    fs::create_directories(run_dir);
    const auto previous = previous_results(a.json, key);
    for (size_t i = 0; i < convs.size(); ++i)
      if (const auto it = previous.find(convs[i]); it != previous.end()) known[i][0] = it->second;
  }
  if (dist) known = dist->rows_from_rank0(known);
  std::vector<double> ap_of(convs.size());
  std::vector<int64_t> pending;  // indices into convs
  for (size_t i = 0; i < convs.size(); ++i) {
    ap_of[i] = known[i][0].item<double>();
    if (std::isnan(ap_of[i])) pending.push_back(static_cast<int64_t>(i));
  }
  auto layers = [&] {  // the measured convs, in module order
    std::vector<LayerSensitivity> v;
    for (size_t i = 0; i < convs.size(); ++i)
      if (!std::isnan(ap_of[i]))
        v.push_back({convs[i], ap_of[i], quant_one ? a.float_ap - ap_of[i] : ap_of[i] - a.quant_ap});
    return v;
  };

  // float_one toggles one conv float in the all-quantized model; quant_one
  // one conv quantized in the all-float model.
  if (quant_one) set_float(rep.quantized, true);
  Progress prog("quant analysis", static_cast<int64_t>(pending.size()), "conv", 0.0);
  int64_t done = 0;
  run_shared_jobs(
      dist.get(), static_cast<int64_t>(pending.size()), timeout, "quant --analyze",
      [&](int64_t job) { return eval_with({convs[pending[job]]}, !quant_one); },
      [&](int64_t job, double ap) {
        const size_t i = static_cast<size_t>(pending[job]);
        ap_of[i] = ap;
        if (!is_main) return;
        a.layers = layers();
        write_analysis(a.json, key, a);  // after every conv: a killed run keeps what it measured
        const double sensitivity = quant_one ? a.float_ap - ap : ap - a.quant_ap;
        prog.update(++done, fmt::format("{} {}: AP {:.4f} ({:+.4f})", convs[i], quant_one ? "quantized alone" : "float",
                                        ap, quant_one ? -sensitivity : sensitivity));
      });
  if (quant_one) set_float(rep.quantized, false);
  a.layers = layers();

  // What keeping the most sensitive convs float together buys (their gains need not add up).
  const auto ranked = most_sensitive_first(a.layers);
  for (size_t k = 1; k <= std::min<size_t>(ranked.size(), 16); k *= 2) {
    CumulativeFloat c;
    for (size_t i = 0; i < k; ++i) c.convs.push_back(ranked[i].conv);
    a.cumulative.push_back(c);
  }
  run_shared_jobs(
      dist.get(), static_cast<int64_t>(a.cumulative.size()), timeout, "quant --analyze",
      [&](int64_t job) { return eval_with(a.cumulative[job].convs, true); },
      [&](int64_t job, double ap) { a.cumulative[job].ap = ap; });
  if (!is_main) return a;
  a.suggested_pattern = suggest_patterns(a, qo.not_quant_pattern, rep.quantized);
  write_analysis(a.json, key, a);
  plot_analysis(a, a.png);
  std::cout << analysis_table(a);
  if (!a.suggested_pattern.empty()) {
    std::string flags;
    for (const auto& p : a.suggested_pattern) flags += " " + p;
    std::cout << "\nThe best row above, as flags for `compress quant`: --not_quant_pattern" << flags << "\n";
  }
  spdlog::info("quant analysis in {} and {}", a.json, a.png);
  return a;
}

}  // namespace compress::quant
