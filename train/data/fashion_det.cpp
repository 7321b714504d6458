#include "train/data/fashion_det.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "train/data/coco_json.h"
#include "train/data/fashion_items.h"
#include "train/data/fashion_paint.h"
#include "train/util/atomic_file.h"
#include "train/util/draw.h"
#include "train/util/error.h"
#include "train/util/progress.h"
#include "train/util/rng.h"

namespace compress {

const char* const kFashionClassNames[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

namespace {

constexpr int kMaxItems = 6;
constexpr double kMinScale = 0.06, kMaxScale = 0.60;  // item side / canvas side
constexpr int kVisibleThreshold = 40;                 // source intensity (0..255) that counts as visible
constexpr double kMaxOverlap = 0.15;                  // intersection / smaller box area
constexpr int kMinVisiblePixels = 12;

}  // namespace

ComposedImage compose_fashion_image(const IdxImages& items, const std::vector<uint8_t>& labels, int S, uint64_t seed) {
  if (items.count <= 0 || static_cast<int>(labels.size()) < items.count) fail("empty Fashion-MNIST split");
  Rng rng(seed);
  ComposedImage out;
  out.image = make_background(S, rng);
  out.owner = cv::Mat::zeros(S, S, CV_16U);
  std::vector<cv::Rect> placed;
  const int want = static_cast<int>(rng.randint(1, kMaxItems));
  for (int n = 0; n < want; ++n) {
    const int src = static_cast<int>(rng.randint(0, items.count - 1));
    // Log-uniform size so that small, medium and large objects are all common.
    const double side = S * std::exp(rng.uniform(std::log(kMinScale), std::log(kMaxScale)));
    const double aspect = std::exp(rng.uniform(std::log(0.8), std::log(1.25)));
    const int w = std::max(6, static_cast<int>(std::lround(side * std::sqrt(aspect))));
    const int h = std::max(6, static_cast<int>(std::lround(side / std::sqrt(aspect))));
    cv::Mat src_img(items.rows, items.cols, CV_8U, const_cast<uint8_t*>(items.image(src)));
    cv::Mat alpha;
    cv::resize(src_img, alpha, cv::Size(std::min(w, S), std::min(h, S)), 0, 0, cv::INTER_LINEAR);
    // Tight box of the item's own visible pixels, relative to its top-left corner.
    cv::Mat vis = alpha >= kVisibleThreshold;
    const cv::Rect own = cv::boundingRect(vis);
    if (own.area() == 0) continue;
    const cv::Scalar col = random_color(rng, 0.35, 1.0);
    bool ok = false;
    int ox = 0, oy = 0;
    for (int attempt = 0; attempt < 30 && !ok; ++attempt) {
      ox = static_cast<int>(rng.randint(0, S - alpha.cols));
      oy = static_cast<int>(rng.randint(0, S - alpha.rows));
      const cv::Rect box(own.x + ox, own.y + oy, own.width, own.height);
      ok = true;
      for (const auto& p : placed) {
        const double inter = (box & p).area();
        if (inter > kMaxOverlap * std::min(box.area(), p.area())) ok = false;
      }
    }
    if (!ok) continue;
    placed.emplace_back(own.x + ox, own.y + oy, own.width, own.height);
    paint_item(out.image, &out.owner, alpha, ox, oy, col, static_cast<uint16_t>(out.items.size() + 1),
               kVisibleThreshold);
    ComposedItem it;
    it.label = labels[src];
    it.source_index = src;
    out.items.push_back(it);
  }
  // Boxes from what is visible at the end: later items may cover earlier ones.
  for (auto& it : out.items) {
    it.x1 = S, it.y1 = S, it.x2 = -1, it.y2 = -1;
    it.visible_pixels = 0;
  }
  for (int y = 0; y < S; ++y) {
    const uint16_t* row = out.owner.ptr<uint16_t>(y);
    for (int x = 0; x < S; ++x) {
      if (!row[x]) continue;
      auto& it = out.items[row[x] - 1];
      it.x1 = std::min(it.x1, x), it.y1 = std::min(it.y1, y);
      it.x2 = std::max(it.x2, x), it.y2 = std::max(it.y2, y);
      ++it.visible_pixels;
    }
  }
  return out;
}

namespace {

void generate_split(const FashionDetOptions& opt, const std::string& split, const std::string& prefix, int count,
                    uint64_t split_seed) {
  namespace fs = std::filesystem;
  const FashionItems split_items = load_fashion_items(opt.mnist_dir, prefix);
  const IdxImages& items = split_items.images;
  const auto& labels = split_items.labels;
  const fs::path img_dir = fs::path(opt.out_dir) / split;
  fs::create_directories(img_dir);

  std::vector<ComposedImage> composed(count);  // only the annotations are kept (images freed after write)
  std::atomic<int> next{0}, done{0};
  std::atomic<bool> failed{false};
  std::string error;
  std::mutex mu;
  Progress progress("fashion-det " + split, count, "img");
  auto worker = [&]() {
    for (int i; !failed && (i = next++) < count;) {
      try {
        ComposedImage c = compose_fashion_image(items, labels, opt.image_size, mix_seed(opt.seed, split_seed, i));
        char name[32];
        std::snprintf(name, sizeof(name), "%06d.jpg", i + 1);
        const std::vector<int> params = {cv::IMWRITE_JPEG_QUALITY, opt.jpeg_quality};
        write_image((img_dir / name).string(), c.image, params, /*sync=*/false);
        c.image.release();
        c.owner.release();
        composed[i] = std::move(c);
        ++done;
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu);
        failed = true;
        error = e.what();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, opt.threads); ++t) pool.emplace_back(worker);
  while (done < count && !failed) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    progress.update(done);
  }
  for (auto& t : pool) t.join();
  if (failed) fail(error);
  progress.update(count);

  nlohmann::json j;
  j["info"] = {{"description", "fashion-det: Fashion-MNIST items composed into detection images"},
               {"seed", opt.seed},
               {"source", prefix}};
  j["images"] = nlohmann::json::array();
  j["annotations"] = nlohmann::json::array();
  j["categories"] = nlohmann::json::array();
  for (int c = 0; c < 10; ++c)
    j["categories"].push_back({{"id", c + 1}, {"name", kFashionClassNames[c]}, {"supercategory", "fashion"}});
  int64_t ann_id = 1, dropped = 0;
  for (int i = 0; i < count; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "%06d.jpg", i + 1);
    j["images"].push_back({{"id", i + 1}, {"file_name", name}, {"width", opt.image_size}, {"height", opt.image_size}});
    for (const auto& it : composed[i].items) {
      if (it.visible_pixels < kMinVisiblePixels) {
        ++dropped;  // almost fully covered by a later item
        continue;
      }
      const int w = it.x2 - it.x1 + 1, h = it.y2 - it.y1 + 1;
      j["annotations"].push_back({{"id", ann_id++},
                                  {"image_id", i + 1},
                                  {"category_id", it.label + 1},
                                  {"bbox", {it.x1, it.y1, w, h}},
                                  {"area", it.visible_pixels},
                                  {"iscrowd", 0}});
    }
  }
  write_file_atomic((fs::path(opt.out_dir) / "annotations" / ("instances_" + split + ".json")).string(), j.dump());
  spdlog::info("fashion-det {}: {} images, {} boxes ({} hidden items without a box) from {}", split, count, ann_id - 1,
               dropped, prefix);
}

}  // namespace

void generate_fashion_det(const FashionDetOptions& opt) {
  if (opt.image_size < 64) fail("--image-size must be at least 64, got ", opt.image_size);
  if (opt.num_train < 0 || opt.num_val < 0) fail("--train and --val must be non-negative");
  // Train images use only the train split's items, val images only t10k's.
  generate_split(opt, "train", "train", opt.num_train, /*split_seed=*/1);
  generate_split(opt, "val", "t10k", opt.num_val, /*split_seed=*/2);
}

}  // namespace compress
