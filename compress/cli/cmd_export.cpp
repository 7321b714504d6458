// `compress export -c CONFIG -w WEIGHTS --format onnx --output OUT.onnx [--verify] [--with_postprocess]`
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "compress/cli/command.h"
#include "compress/export/onednn_runner.h"
#include "compress/export/onnx_export.h"
#include "compress/export/verify.h"
#include "compress/model_io.h"
#include "train/config/config.h"
#include "train/data/reader.h"
#include "train/engine/runtime.h"
#include "train/util/error.h"

namespace compress {
namespace {

class ExportCommand : public Command {
 public:
  explicit ExportCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("export", "write a (float, QAT int8 or pruned) checkpoint as ONNX");
    flags_.add(app_, /*required=*/true);
    app_->add_option("-w,--weights", weights_, "checkpoint")->required();
    app_->add_option("--format", format_, "onnx")->check(CLI::IsMember({"onnx"}))->capture_default_str();
    app_->add_option("--output", output_, "output .onnx file")->required();
    app_->add_option("--input", input_, "square input size (default: the EvalReader's ResizeImage target_size)")
        ->check(CLI::Range(32, 4096));
    app_->add_flag("--with_postprocess", opt_.with_postprocess,
                   "SSD/YOLOv3: also output decoded boxes and scores (no NMS); Cascade R-CNN always does");
    app_->add_flag("--verify", verify_, "run the file in ONNX Runtime on EvalReader images and compare with LibTorch");
    app_->add_option(
            "--runtime", runtimes_,
            "engines --verify runs the file in: ort (ONNX Runtime), onednn (compress/runtime), e.g. ort,onednn")
        ->delimiter(',')
        ->capture_default_str();
    app_->add_option("--verify-images", verify_images_, "images for --verify")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
  }
  CLI::App* app() const override { return app_; }
  int run() override {
    const Config cfg = flags_.load();
    apply_runtime_settings(cfg);
    if (!std::filesystem::exists(weights_)) fail("weights file '", weights_, "' does not exist");
    auto model = load_detector(cfg, weights_);
    const int64_t size = eval_input_size(cfg, input_, "export");
    opt_.height = opt_.width = size;
    const auto r = export_onnx(*model, output_, opt_);
    spdlog::info("wrote {} ({} nodes, {} convs int8 QDQ, input 1x3x{}x{}, outputs:{})", output_, r.nodes,
                 r.quantized_convs, size, size, [&] {
                   std::string s;
                   for (const auto& o : r.outputs) s += " " + o;
                   return s;
                 }());
    if (!verify_) return 0;
    for (const auto& rt : runtimes_) check_runtime_name(rt, "export --runtime");
    for (const auto& rt : runtimes_) {
      const auto v = verify_export(*model, output_, cfg, verify_images_, size, size, rt);
      std::cout << v.table();
      if (!v.layers.ok) fail("export --verify (", v.engine, "): layer by layer, ", v.layers.first_bad);
      if (!v.ok) fail("export --verify: the ", v.engine, " outputs do not match LibTorch (see the table above)");
      spdlog::info("verified in {}: {}", v.engine,
                   v.quantized ? "int8, every layer's codes identical" : "float within 1e-4");
    }
    return 0;
  }

 private:
  CLI::App* app_;
  ConfigFlags flags_;
  std::string weights_, format_ = "onnx", output_;
  int64_t input_ = 0, verify_images_ = 32;
  bool verify_ = false;
  std::vector<std::string> runtimes_ = {"ort"};
  ExportOptions opt_;
};

}  // namespace

std::unique_ptr<Command> make_export_command(CLI::App& parent) { return std::make_unique<ExportCommand>(parent); }

}  // namespace compress
