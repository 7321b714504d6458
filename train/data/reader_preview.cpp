#include "train/data/reader_preview.h"

#include <torch/torch.h>

#include <opencv2/imgproc.hpp>

#include "train/data/normalization.h"
#include "train/data/reader.h"
#include "train/util/error.h"

namespace compress {

ReaderPreview reader_preview(const Config& cfg, const std::string& section, int64_t epoch, int count) {
  const Normalization norm = normalization_of(cfg, section, "to undo");
  auto ds = load_dataset(cfg, section);
  auto loader = make_loader(cfg, section, ds);
  loader->start_epoch(epoch);
  const auto mean = torch::tensor({norm.mean[0], norm.mean[1], norm.mean[2]}).view({3, 1, 1});
  const auto stdv = torch::tensor({norm.std[0], norm.std[1], norm.std[2]}).view({3, 1, 1});
  std::vector<PreviewTile> tiles;
  while (static_cast<int>(tiles.size()) < count) {
    auto b = loader->next();
    if (!b) break;
    const auto boxes = b->boxes.accessor<float, 3>();
    const auto labels = b->labels.accessor<int64_t, 2>();
    const auto scores = b->scores.accessor<float, 2>();
    for (int64_t i = 0; i < b->size() && static_cast<int>(tiles.size()) < count; ++i) {
      // (3, H, W) normalized RGB -> (H, W, 3) uint8 RGB -> BGR.
      auto x = b->images[i] * stdv + mean;
      if (norm.is_scale) x = x * 255.0;
      const auto rgb = x.round().clamp(0, 255).to(torch::kUInt8).permute({1, 2, 0}).contiguous();
      const int H = static_cast<int>(rgb.size(0)), W = static_cast<int>(rgb.size(1));
      PreviewTile t;
      cv::cvtColor(cv::Mat(H, W, CV_8UC3, rgb.data_ptr<uint8_t>()), t.bgr, cv::COLOR_RGB2BGR);  // copies
      t.image_id = b->image_ids[static_cast<size_t>(i)];
      const int64_t n = b->num_boxes[i].item<int64_t>();
      for (int64_t k = 0; k < n; ++k) {
        const float w = scores[i][k];
        t.boxes.push_back({boxes[i][k][0], boxes[i][k][1], boxes[i][k][2], boxes[i][k][3],
                           static_cast<int>(labels[i][k]), w < 1.f ? w : -1.f});
      }
      tiles.push_back(std::move(t));
    }
  }
  if (tiles.empty()) fail("config '", cfg.source(), "': ", section, " gives no images in epoch ", epoch);
  return {std::move(tiles), ds->class_names()};
}

cv::Mat draw_preview(std::vector<PreviewTile> tiles, const std::vector<std::string>& names, int tile_px) {
  std::vector<cv::Mat> drawn;
  for (auto& t : tiles) {
    // Scale first, so that labels stay legible on small inputs.
    const float sx = static_cast<float>(tile_px) / t.bgr.cols, sy = static_cast<float>(tile_px) / t.bgr.rows;
    cv::Mat img;
    cv::resize(t.bgr, img, cv::Size(tile_px, tile_px), 0, 0, cv::INTER_LINEAR);
    for (auto& b : t.boxes) b.x1 *= sx, b.x2 *= sx, b.y1 *= sy, b.y2 *= sy;
    draw_boxes(img, t.boxes, names);
    drawn.push_back(img);
  }
  return tile_images(drawn, std::min<int>(4, static_cast<int>(drawn.size())));
}

}  // namespace compress
