#include "train/data/fashion_det.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <mutex>
#include <thread>

#include "train/data/coco_json.h"
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

cv::Scalar random_color(Rng& rng, double v_lo, double v_hi) {
  // HSV -> BGR by hand so the result does not depend on OpenCV's rounding.
  const double h = rng.uniform(0, 6), s = rng.uniform(0.3, 1.0), v = rng.uniform(v_lo, v_hi);
  const int i = static_cast<int>(h) % 6;
  const double f = h - std::floor(h), p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  double r, g, b;
  switch (i) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
  }
  return cv::Scalar(b * 255, g * 255, r * 255);
}

// Three background families: gradients, stripes/checks, and shape clutter;
// all get per-pixel noise so that no background is flat.
cv::Mat make_background(int S, Rng& rng) {
  cv::Mat bg(S, S, CV_8UC3);
  const int kind = static_cast<int>(rng.randint(0, 2));
  const cv::Scalar c0 = random_color(rng, 0.2, 0.9), c1 = random_color(rng, 0.2, 0.9);
  if (kind == 0) {
    const double ang = rng.uniform(0, 2 * M_PI), ca = std::cos(ang), sa = std::sin(ang);
    for (int y = 0; y < S; ++y) {
      auto* row = bg.ptr<cv::Vec3b>(y);
      for (int x = 0; x < S; ++x) {
        const double t = 0.5 + 0.5 * ((x - S / 2.0) * ca + (y - S / 2.0) * sa) / (S * 0.7072);
        for (int c = 0; c < 3; ++c) row[x][c] = cv::saturate_cast<uint8_t>(c0[c] * (1 - t) + c1[c] * t);
      }
    }
  } else if (kind == 1) {
    const int period = static_cast<int>(rng.randint(6, 40));
    const bool checks = rng.bernoulli(0.5);
    const double mix = rng.uniform(0.15, 0.5);  // low contrast, so items stay the salient thing
    for (int y = 0; y < S; ++y) {
      auto* row = bg.ptr<cv::Vec3b>(y);
      for (int x = 0; x < S; ++x) {
        const bool on = checks ? (((x / period) + (y / period)) & 1) : ((x + y) / period & 1);
        for (int c = 0; c < 3; ++c)
          row[x][c] = cv::saturate_cast<uint8_t>(on ? c0[c] * (1 - mix) + c1[c] * mix : c0[c]);
      }
    }
  } else {
    bg.setTo(c0);
    const int shapes = static_cast<int>(rng.randint(15, 60));
    for (int k = 0; k < shapes; ++k) {
      const cv::Scalar col = random_color(rng, 0.2, 0.9);
      const cv::Point p0(static_cast<int>(rng.randint(0, S - 1)), static_cast<int>(rng.randint(0, S - 1)));
      const cv::Point p1(static_cast<int>(rng.randint(0, S - 1)), static_cast<int>(rng.randint(0, S - 1)));
      switch (rng.randint(0, 2)) {
        case 0: cv::line(bg, p0, p1, col, static_cast<int>(rng.randint(1, 4))); break;
        case 1: cv::circle(bg, p0, static_cast<int>(rng.randint(2, S / 10)), col, -1); break;
        default: {
          const cv::Point p2(p0.x + static_cast<int>(rng.randint(3, S / 8)), p0.y + static_cast<int>(rng.randint(3, S / 8)));
          cv::rectangle(bg, p0, p2, col, rng.bernoulli(0.5) ? -1 : 2);
        }
      }
    }
  }
  const int amp = static_cast<int>(rng.randint(4, 20));
  for (int y = 0; y < S; ++y) {
    auto* row = bg.ptr<uint8_t>(y);
    for (int x = 0; x < S * 3; ++x) row[x] = cv::saturate_cast<uint8_t>(row[x] + rng.randint(-amp, amp));
  }
  return bg;
}

}  // namespace

ComposedImage compose_fashion_image(const IdxImages& items, const std::vector<uint8_t>& labels, int S,
                                    uint64_t seed) {
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
    const uint16_t tag = static_cast<uint16_t>(out.items.size() + 1);
    for (int y = 0; y < alpha.rows; ++y) {
      const uint8_t* a = alpha.ptr<uint8_t>(y);
      auto* dst = out.image.ptr<cv::Vec3b>(oy + y) + ox;
      auto* own_row = out.owner.ptr<uint16_t>(oy + y) + ox;
      for (int x = 0; x < alpha.cols; ++x) {
        if (a[x] == 0) continue;
        const double g = a[x] / 255.0;
        const double op = std::min(1.0, 2.0 * g);  // opaque interior, soft edge
        const double shade = 0.35 + 0.65 * g;      // keeps the item's own texture
        for (int c = 0; c < 3; ++c)
          dst[x][c] = cv::saturate_cast<uint8_t>(dst[x][c] * (1 - op) + col[c] * shade * op);
        if (a[x] >= kVisibleThreshold) own_row[x] = tag;
      }
    }
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
  const IdxImages items = read_idx_images(opt.mnist_dir + "/" + prefix + "-images-idx3-ubyte.gz");
  const auto labels = read_idx_labels(opt.mnist_dir + "/" + prefix + "-labels-idx1-ubyte.gz");
  if (static_cast<int>(labels.size()) != items.count)
    fail(opt.mnist_dir, ": ", prefix, " has ", items.count, " images but ", labels.size(), " labels");
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
        if (!cv::imwrite((img_dir / name).string(), c.image, params))
          fail("cannot write image '", (img_dir / name).string(), "'");
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
  spdlog::info("fashion-det {}: {} images, {} boxes ({} hidden items without a box) from {}", split, count,
               ann_id - 1, dropped, prefix);
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
