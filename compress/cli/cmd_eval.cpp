// `compress eval --gt GT.json --dets DETS.json [--dets D2.json ...] [--out STATS.json]`: score results files.
// `compress eval -c CONFIG -w WEIGHTS [-w W2.pt ...] [--out STATS.json]`: run models on EvalReader and score them.
// `--classwise` adds the per-category AP table (PaddleDetection's `classwise`);
// `--plot PNG` draws per-category AP as bars, one colour per model, so a
// float, int8 and pruned model show side by side which classes they lost.
// Models run on the training device (`use_gpu`); under a launcher the ranks
// share EvalReader's images and rank 0 scores, prints and writes.
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "compress/cli/command.h"
#include "compress/export/onnx_eval.h"
#include "compress/model_io.h"
#include "train/config/config.h"
#include "train/data/coco_json.h"
#include "train/engine/checkpoint.h"
#include "train/engine/distributed.h"
#include "train/engine/evaluate.h"
#include "train/engine/runtime.h"
#include "train/engine/trainer.h"
#include "train/eval/coco_eval.h"
#include "train/util/atomic_file.h"
#include "train/util/draw.h"
#include "train/util/error.h"
#include "train/util/plot.h"

namespace compress {
namespace {

namespace fs = std::filesystem;

struct Scored {
  std::string name;  // what the tables and the legend call the model
  CocoEvalResult result;
};

// "run/model_final.pt" for a path: enough to tell a float run from its int8
// or pruned sibling, short enough for a legend.
std::string short_name(const std::string& path) {
  const fs::path p(path);
  return p.has_parent_path() && !p.parent_path().filename().empty()
             ? (p.parent_path().filename() / p.filename()).string()
             : p.filename().string();
}

// Per-category AP of several models side by side, and the last minus the first.
std::string compare_table(const std::vector<Scored>& all) {
  const auto& first = all.front().result;
  size_t w = 8;
  for (const auto& n : first.category_names) w = std::max(w, n.size());
  auto pad = [&](const std::string& s) { return s + std::string(w - std::min(w, s.size()), ' '); };
  std::string out = "per-category AP (x100), models in order:\n";
  for (size_t m = 0; m < all.size(); ++m) out += "  [" + std::to_string(m + 1) + "] " + all[m].name + "\n";
  out += pad("category");
  for (size_t m = 0; m < all.size(); ++m) out += "     [" + std::to_string(m + 1) + "]";
  out += "  [" + std::to_string(all.size()) + "]-[1]\n";
  char buf[32];
  auto row = [&](const std::string& label, auto value) {
    out += pad(label);
    for (const auto& s : all) {
      const double v = value(s.result);  // -1: the category has no GT
      if (v < 0) {
        out += "       -";
      } else {
        std::snprintf(buf, sizeof(buf), "  %6.2f", 100 * v);
        out += buf;
      }
    }
    const double a = value(all.front().result), b = value(all.back().result);
    if (a >= 0 && b >= 0) {
      std::snprintf(buf, sizeof(buf), "  %+8.2f", 100 * (b - a));
      out += buf;
    }
    out += "\n";
  };
  for (size_t k = 0; k < first.category_ids.size(); ++k)
    row(first.category_names[k], [k](const CocoEvalResult& r) { return r.per_category_ap[k]; });
  row("(mean)", [](const CocoEvalResult& r) { return r.stats.ap(); });
  return out;
}

class EvalCommand : public Command {
 public:
  explicit EvalCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("eval", "COCO box evaluation: of a results file, or of a model on EvalReader");
    auto* gt = app_->add_option("--gt", gt_, "COCO instances JSON (ground truth)");
    auto* dets = app_->add_option("--dets", dets_, "COCO results JSON (detections); repeat to compare several");
    gt->needs(dets);
    dets->needs(gt);
    flags_.add(app_, /*required=*/false);
    app_->add_option("-w,--weights", weights_, "checkpoint (default: the config's weights); repeat to compare several");
    app_->add_option("--out", out_, "write the 12 statistics as JSON here (a list, one per model, for several)");
    app_->add_option("--dets-out", dets_out_, "model mode, one model: write the detections (COCO results JSON) here");
    app_->add_flag("--classwise", classwise_, "also print AP and AP50 per category (and add them to --out)");
    app_->add_option("--plot", plot_, "draw per-category AP into this PNG (one bar per model)");
    app_->add_option("--onnx", onnx_,
                     "with -c: score exported files instead of checkpoints (repeat for several), run by --runtime");
    app_->add_option("--runtime", runtime_, "engine for --onnx: ort (ONNX Runtime) or onednn (compress/runtime)")
        ->check(CLI::IsMember({"ort", "onednn"}))
        ->capture_default_str();
  }
  CLI::App* app() const override { return app_; }
  bool data_parallel() const override { return true; }
  int run() override {
    std::vector<Scored> all;
    if (!gt_.empty()) {
      if (!flags_.config.empty()) throw CLI::ValidationError("--gt/--dets and -c are exclusive");
      if (!weights_.empty()) throw CLI::ValidationError("-w needs -c (with --gt, give --dets)");
      if (const DistEnv env = dist_env_from_environment(); env.enabled())
        fail("eval --gt/--dets scores files in one process, but WORLD_SIZE is ", env.world_size,
             ": run it without torchrun or tools/dist_train.sh");
      const CocoFile gt = read_coco_instances(gt_);  // GT first: its errors come first
      for (const auto& d : dets_) all.push_back({short_name(d), evaluate_coco(gt, read_coco_results(d))});
    } else {
      if (flags_.config.empty()) fail("eval needs --gt and --dets, or -c CONFIG [-w WEIGHTS]");
      if (weights_.size() > 1 && !dets_out_.empty()) throw CLI::ValidationError("--dets-out takes one model (-w once)");
      if (!onnx_.empty()) {
        if (!weights_.empty()) throw CLI::ValidationError("--onnx scores exported files: give no -w");
        if (!dets_out_.empty()) throw CLI::ValidationError("--dets-out is for checkpoints, not --onnx");
        const Config cfg = flags_.load();
        apply_runtime_settings(cfg);
        auto model = build_detector(cfg);  // decodes the files' raw maps; no weights needed
        for (const auto& f : onnx_) {
          if (!fs::exists(f)) fail("eval --onnx: '", f, "' does not exist");
          const auto run = evaluate_onnx(cfg, *model, f, runtime_);
          spdlog::info("{} ({}): {} images in {:.1f} s ({:.1f} img/s), AP {:.4f}", f, runtime_, run.images, run.seconds,
                       run.images / std::max(run.seconds, 1e-9), run.result.stats.ap());
          all.push_back({short_name(f), run.result});
        }
      } else {
        all = evaluate_models();
      }
      if (!rank0_) return 0;  // under a launcher rank 0 reports; the others ran their shards
    }
    disambiguate(all);
    for (const auto& s : all) {
      if (all.size() > 1) std::cout << "== " << s.name << "\n";
      std::cout << s.result.stats.table();
      if (classwise_ && all.size() == 1) std::cout << s.result.classwise_table();
    }
    if (classwise_ && all.size() > 1) std::cout << compare_table(all);
    std::cout.flush();  // the statistics are out before any optional file can fail
    // Detections only where --dets-out says: never beside the weights, where
    // they would replace a training run's own eval_dets.json.
    if (!dets_out_.empty() && !model_dets_.empty()) {
      write_coco_results(dets_out_, model_dets_.front());
      spdlog::info("detections: {}", dets_out_);
    }
    if (!out_.empty()) write_file_atomic(out_, stats_json(all).dump(1) + "\n");
    if (!plot_.empty()) draw(all);
    return 0;
  }

 private:
  std::vector<std::string> onnx_;
  std::string runtime_ = "ort";

  std::vector<Scored> evaluate_models() {
    const Config cfg = flags_.load();
    apply_runtime_settings(cfg);
    std::vector<std::string> paths = weights_;
    if (paths.empty()) {
      std::string w = cfg.get<std::string>("weights");
      if (w.empty()) w = (fs::path(default_run_dir(cfg)) / "model_final.pt").string();
      paths.push_back(w);
    }
    // Every checkpoint is opened before any evaluation, so a bad path fails at once.
    std::vector<Detector> models;
    for (const auto& w : paths) models.push_back(load_detector(cfg, w));
    // On the training device (use_gpu); under a launcher each rank runs its
    // shard of EvalReader and rank 0 scores the union, as one process would.
    const auto dist = dist_env_from_environment().enabled() ? dist_init(cfg) : nullptr;
    rank0_ = !dist || dist->is_main();
    std::vector<Scored> all;
    for (size_t m = 0; m < paths.size(); ++m) {
      const EvalRun run = evaluate_on_reader(cfg, *models[m], dist.get());
      if (!rank0_) continue;
      if (!dets_out_.empty()) model_dets_.push_back(run.dets);
      spdlog::info("{}: {} images in {:.1f} s ({:.1f} img/s), AP {:.4f}", paths[m], run.images, run.seconds,
                   run.images / std::max(run.seconds, 1e-9), run.result.stats.ap());
      all.push_back({short_name(paths[m]), run.result});
    }
    return all;
  }

  // Two models named alike ("a/model_final.pt" twice) get their full paths.
  void disambiguate(std::vector<Scored>& all) const {
    const std::vector<std::string>& full = gt_.empty() ? weights_ : dets_;
    for (size_t i = 0; i < all.size(); ++i)
      for (size_t j = 0; j < all.size(); ++j)
        if (i != j && all[i].name == all[j].name && i < full.size()) all[i].name = full[i];
  }

  nlohmann::json stats_json(const std::vector<Scored>& all) const {
    auto one = [&](const Scored& s) {
      nlohmann::json j = s.result.stats.to_json();
      if (classwise_) j["per_class"] = s.result.classwise_json();
      return j;
    };
    if (all.size() == 1) return one(all.front());
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : all) {
      nlohmann::json j = one(s);
      j["name"] = s.name;
      list.push_back(j);
    }
    return list;
  }

  void draw(const std::vector<Scored>& all) const {
    const auto& first = all.front().result;
    std::vector<std::string> labels = first.category_names;
    labels.push_back("(mean)");
    std::vector<Series> series;
    for (const auto& s : all) {
      Series se;
      char ap[32];
      std::snprintf(ap, sizeof(ap), " (AP %.2f)", 100 * s.result.stats.ap());
      se.name = s.name + ap;
      for (double v : s.result.per_category_ap) se.y.push_back(v < 0 ? std::nan("") : 100 * v);
      se.y.push_back(100 * s.result.stats.ap());
      series.push_back(std::move(se));
    }
    const cv::Mat img = grouped_bar_chart("AP per category (IoU .50:.95)", "AP x100", labels, series);
    write_image(plot_, img);
    spdlog::info("per-category AP: {}", plot_);
  }

  CLI::App* app_;
  ConfigFlags flags_;
  std::string gt_, out_, dets_out_, plot_;
  std::vector<std::string> dets_, weights_;
  std::vector<std::vector<CocoDetection>>
      model_dets_;  // with --dets-out: the model's detections, written after the tables
  bool classwise_ = false;
  bool rank0_ = true;  // false on the other ranks of a launcher, which print and write nothing
};

}  // namespace

std::unique_ptr<Command> make_eval_command(CLI::App& parent) { return std::make_unique<EvalCommand>(parent); }

}  // namespace compress
