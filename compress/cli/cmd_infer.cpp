// `compress infer -c CONFIG -w WEIGHTS --image IMG [--image IMG2 ...] [--compare W2 ...] [--onnx M.onnx ...]
//   [--out OUT.png]`: draw detections. With --compare or --onnx, one column per
// model (the float checkpoint, a pruned or QAT one, their ONNX exports run in
// ONNX Runtime) and one row per image, so a compressed model's misses show.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "compress/cli/command.h"
#include "compress/export/onednn_runner.h"
#include "compress/export/onnx_detections.h"
#include "compress/export/onnx_graph.h"
#include "compress/export/ort_runner.h"
#include "compress/model_io.h"
#include "train/config/config.h"
#include "train/data/reader.h"
#include "train/data/transforms/transforms.h"
#include "train/engine/runtime.h"
#include "train/models/detector.h"
#include "train/util/draw.h"
#include "train/util/error.h"
#include "train/util/panels.h"

namespace compress {
namespace {

namespace fs = std::filesystem;

class InferCommand : public Command {
 public:
  explicit InferCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("infer", "detect objects in images and draw them (side by side across models)");
    flags_.add(app_, /*required=*/true);
    app_->add_option("-w,--weights", weights_, "checkpoint")->required();
    app_->add_option("--image", images_, "input image (JPEG, PNG); repeat for more rows")->required();
    app_->add_option("--compare", compare_, "more checkpoints of this recipe (pruned, QAT), one column each");
    app_->add_option("--onnx", onnx_, "ONNX exports of this recipe, run in ONNX Runtime, one column each");
    app_->add_option("--runtime", runtime_, "engine for --onnx: ort (ONNX Runtime) or onednn (compress/runtime)")
        ->check(CLI::IsMember({"ort", "onednn"}))
        ->capture_default_str();
    app_->add_option("--out", out_, "output PNG (default: <first image>_det.png)");
    app_->add_option("--draw-threshold", threshold_, "minimum score to draw")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
  }
  CLI::App* app() const override { return app_; }
  int run() override {
    const Config cfg = flags_.load();
    apply_runtime_settings(cfg);
    // Every image through the eval pipeline, one batch each (the same collate as evaluation).
    const Pipeline pipe = make_pipeline(cfg.at("EvalReader"));
    std::vector<cv::Mat> originals;
    std::vector<Batch> batches;
    for (const auto& path : images_) {
      cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
      if (bgr.empty()) fail("cannot decode image '", path, "'");
      Sample s;
      cv::cvtColor(bgr, s.image, cv::COLOR_BGR2RGB);
      s.orig_width = bgr.cols, s.orig_height = bgr.rows;
      Rng rng(0);
      for (const auto& t : pipe.sample) t->apply(s, rng);
      batches.push_back(collate({s}));
      originals.push_back(bgr);
    }
    torch::NoGradGuard no_grad;
    std::vector<ModelDetections> columns;
    auto model = load_detector(cfg, weights_);
    model->eval();
    size_t n_raw = 0;
    columns.push_back(libtorch_column(*model, weights_, batches, &n_raw));
    for (const auto& w : compare_) {
      auto m = load_detector(cfg, w);
      m->eval();
      columns.push_back(libtorch_column(*m, w, batches, nullptr));
    }
    for (const auto& f : onnx_) columns.push_back(onnx_column(*model, f, batches, n_raw, runtime_));

    const auto names = class_names(cfg, model->num_classes);
    std::vector<std::pair<int64_t, int64_t>> sizes;
    for (const auto& b : batches) sizes.emplace_back(b.images.size(2), b.images.size(3));
    const cv::Mat grid = draw_panels(originals, sizes, columns, names, threshold_);
    const std::string out_path =
        out_.empty() ? (fs::path(images_[0]).replace_extension("").string() + "_det.png") : out_;
    write_image(out_path, grid);
    if (columns.size() == 1 && images_.size() == 1) {
      for (const auto& b : to_draw_boxes(columns[0].dets[0], sizes[0].first, sizes[0].second, originals[0].rows,
                                         originals[0].cols, threshold_))
        spdlog::info("  label {} score {:.3f} box [{:.1f}, {:.1f}, {:.1f}, {:.1f}]", b.label, b.score, b.x1, b.y1, b.x2,
                     b.y2);
    }
    for (const auto& c : columns) {
      int64_t drawn = 0;
      for (const auto& d : c.dets)
        drawn += std::count_if(d.begin(), d.end(), [&](const Detection& x) { return x.score >= threshold_; });
      spdlog::info("{}: {} detections >= {} on {} images", c.title, drawn, threshold_, c.dets.size());
    }
    spdlog::info("drawn into {}", out_path);
    return 0;
  }

 private:
  // The folder and the file: runs keep their weights as model_final.pt.
  static std::string short_name(const std::string& path) {
    const fs::path p(path);
    const std::string dir = p.parent_path().filename().string();
    return dir.empty() ? p.filename().string() : dir + "/" + p.filename().string();
  }

  static ModelDetections libtorch_column(DetectorImpl& m, const std::string& weights, const std::vector<Batch>& batches,
                                         size_t* n_raw) {
    ModelDetections c;
    c.title = short_name(weights);
    for (const auto& b : batches) {
      const auto out = m.forward(b.images);
      if (n_raw) *n_raw = out.size();
      c.dets.push_back(m.postprocess(out, b.images.size(2), b.images.size(3))[0]);
    }
    return c;
  }

  // The export's fixed input must be the size the eval pipeline gives.
  static ModelDetections onnx_column(DetectorImpl& model, const std::string& path, const std::vector<Batch>& batches,
                                     size_t n_raw, const std::string& runtime) {
    const auto dims = onnx_export::read_input_dims(path);
    std::vector<torch::Tensor> images;
    for (const auto& b : batches) {
      const auto want = b.images.sizes().vec();
      bool fits = dims.size() == want.size();
      for (size_t k = 0; fits && k < dims.size(); ++k) fits = dims[k] < 0 || dims[k] == want[k];  // -1: dynamic
      if (!fits)
        fail("infer --onnx: '", path, "' takes input ", torch::IntArrayRef(dims),
             " but this recipe's EvalReader gives ", torch::IntArrayRef(want), "; export it with --input ", want[2]);
      images.push_back(b.images);
    }
    const bool onednn = runtime == "onednn";
    const OrtRun run = onednn ? run_onednn(path, images) : run_onnxruntime(path, images);
    ModelDetections c;
    c.title = short_name(path) + (onednn ? " (oneDNN runtime)" : " (ONNX Runtime)");
    for (size_t i = 0; i < batches.size(); ++i) {
      check_onnx_outputs(model, n_raw, run.outputs[i].size(), path, "infer --onnx");
      const auto& b = batches[i];
      c.dets.push_back(onnx_detections(model, run.outputs[i], n_raw, b.images.size(2), b.images.size(3))[0]);
    }
    return c;
  }

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
  std::string weights_, out_;
  std::vector<std::string> images_, compare_, onnx_;
  std::string runtime_ = "ort";
  float threshold_ = 0.3f;
};

}  // namespace

std::unique_ptr<Command> make_infer_command(CLI::App& parent) { return std::make_unique<InferCommand>(parent); }

}  // namespace compress
