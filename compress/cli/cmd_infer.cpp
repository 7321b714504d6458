// `compress infer -c CONFIG -w WEIGHTS --image IMG [--out OUT.png]`: draw detections.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "compress/cli/command.h"
#include "compress/model_io.h"
#include "train/config/config.h"
#include "train/data/reader.h"
#include "train/data/transforms/transforms.h"
#include "train/engine/checkpoint.h"
#include "train/engine/runtime.h"
#include "train/models/detector.h"
#include "train/util/draw.h"
#include "train/util/error.h"

namespace compress {
namespace {

class InferCommand : public Command {
 public:
  explicit InferCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("infer", "detect objects in an image and draw them");
    flags_.add(app_, /*required=*/true);
    app_->add_option("-w,--weights", weights_, "checkpoint")->required();
    app_->add_option("--image", image_, "input image (JPEG, PNG)")->required();
    app_->add_option("--out", out_, "output PNG (default: <image>_det.png)");
    app_->add_option("--draw-threshold", threshold_, "minimum score to draw")->capture_default_str();
  }
  CLI::App* app() const override { return app_; }
  int run() override {
    const Config cfg = flags_.load();
    apply_runtime_settings(cfg);
    auto model = load_detector(cfg, weights_);
    model->eval();
    cv::Mat bgr = cv::imread(image_, cv::IMREAD_COLOR);
    if (bgr.empty()) fail("cannot decode image '", image_, "'");
    // The eval pipeline on one sample, then the same collate as evaluation.
    Sample s;
    cv::cvtColor(bgr, s.image, cv::COLOR_BGR2RGB);
    s.orig_width = bgr.cols, s.orig_height = bgr.rows;
    const Pipeline pipe = make_pipeline(cfg.at("EvalReader"));
    Rng rng(0);
    for (const auto& t : pipe.sample) t->apply(s, rng);
    const Batch batch = collate({s});
    torch::NoGradGuard no_grad;
    const auto out = model->forward(batch.images);
    const auto dets = model->postprocess(out, batch.images.size(2), batch.images.size(3))[0];
    const double sx = static_cast<double>(bgr.cols) / batch.images.size(3);
    const double sy = static_cast<double>(bgr.rows) / batch.images.size(2);
    std::vector<DrawBox> boxes;
    for (const auto& d : dets)
      if (d.score >= threshold_)
        boxes.push_back({static_cast<float>(d.x1 * sx), static_cast<float>(d.y1 * sy), static_cast<float>(d.x2 * sx),
                         static_cast<float>(d.y2 * sy), static_cast<int>(d.label), d.score});
    draw_boxes(bgr, boxes, class_names(cfg, model->num_classes));
    const std::string out_path =
        out_.empty() ? (std::filesystem::path(image_).replace_extension("").string() + "_det.png") : out_;
    if (!cv::imwrite(out_path, bgr)) fail("cannot write '", out_path, "'");
    for (const auto& b : boxes) spdlog::info("  label {} score {:.3f} box [{:.1f}, {:.1f}, {:.1f}, {:.1f}]", b.label, b.score, b.x1, b.y1, b.x2, b.y2);
    spdlog::info("{} detections >= {} drawn into {}", boxes.size(), threshold_, out_path);
    return 0;
  }

 private:
  // Class names from the eval annotations when they are readable; indices otherwise.
  static std::vector<std::string> class_names(const Config& cfg, int64_t n) {
    try {
      const auto o = dataset_options(cfg, "EvalReader");
      const CocoFile f = read_coco_instances(o.anno_path);
      std::vector<std::string> names;
      for (const auto* c : categories_by_id(f)) names.push_back(c->name);
      if (static_cast<int64_t>(names.size()) == n) return names;
    } catch (const Error& e) {
      spdlog::warn("class names unavailable ({}); drawing label indices", e.what());
    }
    std::vector<std::string> names;
    for (int64_t i = 0; i < n; ++i) names.push_back(std::to_string(i));
    return names;
  }

  CLI::App* app_;
  ConfigFlags flags_;
  std::string weights_, image_, out_;
  float threshold_ = 0.3f;
};

}  // namespace

std::unique_ptr<Command> make_infer_command(CLI::App& parent) { return std::make_unique<InferCommand>(parent); }

}  // namespace compress
