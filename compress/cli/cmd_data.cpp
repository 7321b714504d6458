// `compress data fashion-det --out DIR ...`: make the bundled detection set.
#include <spdlog/spdlog.h>

#include "compress/cli/command.h"
#include "train/data/fashion_det.h"

namespace compress {
namespace {

class DataCommand : public Command {
 public:
  explicit DataCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("data", "dataset tools");
    app_->require_subcommand(1);
    auto* f = app_->add_subcommand("fashion-det", "compose a COCO-format detection set from Fashion-MNIST");
    f->add_option("--out", opt_.out_dir, "output folder")->capture_default_str();
    f->add_option("--image-size", opt_.image_size, "square image side in pixels")->capture_default_str();
    f->add_option("--train", opt_.num_train, "training images")->capture_default_str();
    f->add_option("--val", opt_.num_val, "validation images")->capture_default_str();
    f->add_option("--seed", opt_.seed, "random seed")->capture_default_str();
    f->add_option("--threads", opt_.threads, "threads")->capture_default_str();
    f->add_option("--mnist-dir", opt_.mnist_dir, "folder with the Fashion-MNIST idx files")->capture_default_str();
  }
  CLI::App* app() const override { return app_; }
  int run() override {
    generate_fashion_det(opt_);
    spdlog::info("wrote {}/annotations/instances_{{train,val}}.json", opt_.out_dir);
    return 0;
  }

 private:
  CLI::App* app_;
  FashionDetOptions opt_;
};

}  // namespace

std::unique_ptr<Command> make_data_command(CLI::App& parent) { return std::make_unique<DataCommand>(parent); }

}  // namespace compress
