// `compress plot RUN_DIR [--out PNG]`: loss and AP curves from RUN_DIR/metrics.jsonl.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "compress/cli/command.h"
#include "train/util/draw.h"
#include "train/util/error.h"
#include "train/util/plot.h"

namespace compress {
namespace {

class PlotCommand : public Command {
 public:
  explicit PlotCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("plot", "draw a run's loss and AP (or pretraining accuracy) curves into a PNG");
    app_->add_option("run_dir", run_dir_, "run folder holding metrics.jsonl")->required();
    app_->add_option("--out", out_, "PNG to write (default: RUN_DIR/curves.png)");
  }
  CLI::App* app() const override { return app_; }
  int run() override {
    const std::string path = (std::filesystem::path(run_dir_) / "metrics.jsonl").string();
    std::ifstream in(path);
    if (!in) fail("cannot open '", path, "' (is '", run_dir_, "' a run folder?)");
    std::map<std::string, Series> loss, ap;
    bool classification = false;
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.empty()) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error& e) {
        fail(path, ":", n, ": malformed JSON line (a killed run may leave one): ", e.what());
      }
      const double it = j.value("iter", 0.0);
      const bool is_eval = j.value("kind", "") == "eval";
      for (const auto& [k, v] : j.items()) {
        if (!v.is_number() || k == "iter") continue;
        // Detector runs score COCO AP; `compress pretrain` runs score top-1 on
        // t10k and log the training window's accuracy (`acc`) beside the loss.
        if ((is_eval && (k == "AP" || k == "AP50" || k == "AP75" || k == "top1")) || (!is_eval && k == "acc")) {
          const std::string name = k == "acc" ? "train acc" : k == "top1" ? "t10k top-1" : k;
          ap[k].name = name, ap[k].x.push_back(it), ap[k].y.push_back(v.get<double>());
          classification |= k == "top1" || k == "acc";
        } else if (!is_eval && k != "lr" && k != "images_per_s") {
          loss[k].name = k, loss[k].x.push_back(it), loss[k].y.push_back(v.get<double>());
        }
      }
    }
    std::vector<Series> ls, as;
    for (auto& kv : loss) ls.push_back(kv.second);
    for (auto& kv : ap) as.push_back(kv.second);
    if (ls.empty()) fail(path, ": no training records to plot");
    cv::Mat top = line_chart("training loss (log scale)", "iteration", ls, 900, 360, /*log_y=*/true);
    cv::Mat bottom = line_chart(classification ? "accuracy" : "COCO AP on EvalReader", "iteration", as, 900, 300);
    cv::Mat img;
    cv::vconcat(top, bottom, img);
    const std::string out = out_.empty() ? (std::filesystem::path(run_dir_) / "curves.png").string() : out_;
    write_image(out, img);
    spdlog::info("wrote {}", out);
    return 0;
  }

 private:
  CLI::App* app_;
  std::string run_dir_, out_;
};

}  // namespace

std::unique_ptr<Command> make_plot_command(CLI::App& parent) { return std::make_unique<PlotCommand>(parent); }

}  // namespace compress
