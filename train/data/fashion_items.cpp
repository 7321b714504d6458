#include "train/data/fashion_items.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "train/data/fashion_paint.h"
#include "train/util/error.h"
#include "train/util/rng.h"

namespace compress {

FashionItems load_fashion_items(const std::string& mnist_dir, const std::string& split) {
  if (split != "train" && split != "t10k") fail("Fashion-MNIST split must be 'train' or 't10k', got '", split, "'");
  FashionItems f;
  f.images = read_idx_images(mnist_dir + "/" + split + "-images-idx3-ubyte.gz");
  f.labels = read_idx_labels(mnist_dir + "/" + split + "-labels-idx1-ubyte.gz");
  if (static_cast<int>(f.labels.size()) != f.images.count)
    fail(mnist_dir, ": ", split, " has ", f.images.count, " images but ", f.labels.size(), " labels");
  return f;
}

cv::Mat render_item_crop(const FashionItems& items, int index, const ItemCropOptions& o, uint64_t seed) {
  if (index < 0 || index >= items.count()) fail("item ", index, " out of range [0, ", items.count(), ")");
  if (o.size < 8 || o.scale_lo <= 0 || o.scale_lo > o.scale_hi || o.scale_hi > 1.0)
    fail("item crop: size ", o.size, " and scales [", o.scale_lo, ", ", o.scale_hi,
         "] must satisfy size >= 8, 0 < lo <= hi <= 1");
  Rng rng(seed);
  cv::Mat canvas = make_background(o.size, rng);
  // The same size law as fashion-det (log-uniform side, aspect within 0.8-1.25),
  // clipped to the canvas.
  const double side = o.size * std::exp(rng.uniform(std::log(o.scale_lo), std::log(o.scale_hi)));
  const double aspect = std::exp(rng.uniform(std::log(0.8), std::log(1.25)));
  const int w = std::clamp(static_cast<int>(std::lround(side * std::sqrt(aspect))), 4, o.size);
  const int h = std::clamp(static_cast<int>(std::lround(side / std::sqrt(aspect))), 4, o.size);
  cv::Mat src(items.images.rows, items.images.cols, CV_8U, const_cast<uint8_t*>(items.images.image(index)));
  cv::Mat alpha;
  cv::resize(src, alpha, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
  if (o.flip && rng.bernoulli(0.5)) cv::flip(alpha, alpha, 1);
  const cv::Scalar col = random_color(rng, 0.35, 1.0);
  const int ox = static_cast<int>(rng.randint(0, o.size - w)), oy = static_cast<int>(rng.randint(0, o.size - h));
  paint_item(canvas, nullptr, alpha, ox, oy, col, 0, 0);
  return canvas;
}

}  // namespace compress
