// What a reader feeds the model, as pictures: its images after every transform
// (mixup, expand, crop, flip, RandomShape), with NormalizeImage undone, and the
// boxes the loss sees. No torch in this header.
#pragma once
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "train/config/config.h"
#include "train/util/draw.h"

namespace compress {

struct PreviewTile {
  cv::Mat bgr;                 // (H, W) uint8 BGR at the batch's input size
  std::vector<DrawBox> boxes;  // input pixels; score = mixup weight when < 1, else -1
  int64_t image_id = 0;
};

struct ReaderPreview {
  std::vector<PreviewTile> tiles;
  std::vector<std::string> class_names;  // the dataset's, by label
};

// The first `count` images of `epoch` from `section` (TrainReader or EvalReader),
// loaded exactly as training or evaluation loads them.
ReaderPreview reader_preview(const Config& cfg, const std::string& section, int64_t epoch, int count);

// Draws the tiles' boxes with the dataset's class names and tiles them, each
// scaled to tile_px x tile_px, four to a row.
cv::Mat draw_preview(std::vector<PreviewTile> tiles, const std::vector<std::string>& names, int tile_px = 320);

}  // namespace compress
