// `compress data fashion-det --out DIR ...`: make the bundled detection set.
// `compress data preview`: a COCO set's boxes, or what a recipe's reader feeds the model.
#include <spdlog/spdlog.h>

#include "compress/cli/command.h"
#include "train/data/coco_dataset.h"
#include "train/data/fashion_det.h"
#include "train/data/reader_preview.h"
#include "train/util/draw.h"
#include "train/util/error.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace compress {
namespace {

class DataCommand : public Command {
 public:
  explicit DataCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("data", "dataset tools");
    app_->require_subcommand(1);
    auto* f = app_->add_subcommand("fashion-det", "compose a COCO-format detection set from Fashion-MNIST");
    f->add_option("--out", opt_.out_dir, "output folder")->capture_default_str();
    f->add_option("--image-size", opt_.image_size, "square image side in pixels")
        ->check(CLI::Range(32, 4096))
        ->capture_default_str();
    // A million images of 320 px is ~60 GB of JPEGs: beyond that is a typo.
    f->add_option("--train", opt_.num_train, "training images")->check(CLI::Range(1, 1000000))->capture_default_str();
    f->add_option("--val", opt_.num_val, "validation images")->check(CLI::Range(1, 1000000))->capture_default_str();
    f->add_option("--seed", opt_.seed, "random seed")->capture_default_str();
    f->add_option("--threads", opt_.threads, "threads")->check(CLI::Range(0, 256))->capture_default_str();
    f->add_option("--mnist-dir", opt_.mnist_dir, "folder with the Fashion-MNIST idx files")->capture_default_str();
    fashion_ = f;
    preview_ =
        app_->add_subcommand("preview",
                             "draw a COCO set's boxes (--anno, --image-dir), or the images and boxes a recipe's reader "
                             "feeds the model after its augmentations (-c), into a PNG grid");
    auto* anno = preview_->add_option("--anno", anno_, "COCO instances JSON");
    auto* dir = preview_->add_option("--image-dir", image_dir_, "folder of the images");
    anno->needs(dir);
    dir->needs(anno);
    flags_.add(preview_, /*required=*/false);
    preview_->add_option("--reader", reader_, "with -c: the reader section")
        ->check(CLI::IsMember({"TrainReader", "EvalReader"}))
        ->capture_default_str();
    preview_->add_option("--epoch", epoch_, "with -c: the epoch to draw (MixupImage mixes before mixup_epoch)")
        ->check(CLI::Range(0, 1000000))
        ->capture_default_str();
    preview_->add_option("--out", preview_out_, "PNG to write")->required();
    preview_->add_option("--count", count_, "images to show")->check(CLI::Range(1, 1000))->capture_default_str();
  }
  CLI::App* app() const override { return app_; }
  int run() override {
    if (preview_->parsed()) return preview();
    generate_fashion_det(opt_);
    spdlog::info("wrote {}/annotations/instances_{{train,val}}.json", opt_.out_dir);
    return 0;
  }

 private:
  int preview() {
    if (!anno_.empty() && !flags_.config.empty()) throw CLI::ValidationError("--anno/--image-dir and -c are exclusive");
    if (anno_.empty() && flags_.config.empty())
      throw CLI::ValidationError("preview needs --anno and --image-dir, or -c");
    if (anno_.empty()) return preview_reader();
    CocoDatasetOptions o;
    o.anno_path = anno_;
    o.image_dir = image_dir_;
    o.skip_empty = false;
    const CocoDataset ds = CocoDataset::load(o);
    std::vector<cv::Mat> tiles;
    for (size_t i = 0; i < ds.size() && static_cast<int>(i) < count_; ++i) {
      cv::Mat img = cv::imread(ds.image_path(i), cv::IMREAD_COLOR);
      if (img.empty()) fail("cannot decode image '", ds.image_path(i), "'");
      std::vector<DrawBox> boxes;
      for (size_t k = 0; k < ds.boxes(i).size(); ++k) {
        const Box& b = ds.boxes(i)[k];
        boxes.push_back({b.x1, b.y1, b.x2, b.y2, static_cast<int>(ds.labels(i)[k])});
      }
      draw_boxes(img, boxes, ds.class_names());
      tiles.push_back(img);
    }
    if (tiles.empty()) fail(anno_, ": no images to show");
    write_image(preview_out_, tile_images(tiles, std::min<int>(4, static_cast<int>(tiles.size()))));
    spdlog::info("wrote {} ({} images)", preview_out_, tiles.size());
    return 0;
  }

  // Through the loader, so that every transform of the recipe is applied.
  int preview_reader() {
    const Config cfg = flags_.load();
    auto p = reader_preview(cfg, reader_, epoch_, count_);
    const size_t n = p.tiles.size();
    write_image(preview_out_, draw_preview(std::move(p.tiles), p.class_names));
    spdlog::info("wrote {} ({} {} images of epoch {})", preview_out_, n, reader_, epoch_);
    return 0;
  }

  CLI::App* app_;
  CLI::App* fashion_;
  CLI::App* preview_;
  FashionDetOptions opt_;
  std::string anno_, image_dir_, preview_out_, reader_ = "TrainReader";
  int count_ = 8;
  int64_t epoch_ = 0;
  ConfigFlags flags_;
};

}  // namespace

std::unique_ptr<Command> make_data_command(CLI::App& parent) { return std::make_unique<DataCommand>(parent); }

}  // namespace compress
