// COCO detection reader for training and evaluation: image_dir + anno_path as in
// COCO's instances_*.json. Category ids (possibly non-contiguous) map to
// contiguous labels 0..C-1 and back for result files.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "train/data/coco_json.h"
#include "train/data/sample.h"

namespace compress {

struct CocoDatasetOptions {
  std::string image_dir;
  std::string anno_path;
  bool skip_empty = true;   // drop images without non-crowd boxes (training)
  bool strict = false;      // unreadable, truncated or wrongly sized images are errors, not warnings
  int64_t sample_num = -1;  // keep the first N images (after skip_empty); -1 = all
};

struct CocoDatasetStats {
  int64_t images = 0, boxes = 0, crowd = 0, degenerate = 0, clipped = 0, skipped_empty = 0;
};

// Categories in id order: the order of contiguous labels 0..C-1 everywhere.
std::vector<const CocoCategory*> categories_by_id(const CocoFile& f);

class CocoDataset {
 public:
  static CocoDataset load(const CocoDatasetOptions& opt);

  size_t size() const { return entries_.size(); }
  const CocoImage& image(size_t i) const { return file_.images[entries_[i].image_index]; }
  std::string image_path(size_t i) const;
  // Non-crowd, clipped, non-degenerate boxes of image i, with contiguous labels.
  const std::vector<Box>& boxes(size_t i) const { return entries_[i].boxes; }
  const std::vector<int64_t>& labels(size_t i) const { return entries_[i].labels; }

  // Decodes image i into an RGB sample with its targets. Throws compress::Error if
  // the file cannot be decoded (the loader decides whether to skip it).
  Sample load_sample(size_t i) const;

  int num_classes() const { return static_cast<int>(category_ids_.size()); }
  int64_t category_id(int64_t label) const { return category_ids_.at(static_cast<size_t>(label)); }
  int64_t label_of(int64_t category_id) const;
  const std::vector<std::string>& class_names() const { return class_names_; }
  const CocoFile& file() const { return file_; }
  const CocoDatasetStats& stats() const { return stats_; }
  const CocoDatasetOptions& options() const { return opt_; }

  // What decoding found so far (shared by copies; read by the trainer to
  // refuse a run whose every box was dropped): boxes handed out, boxes dropped
  // as degenerate after rescaling to the decoded size, images whose declared
  // size differs from the decoded one, truncated images decoded anyway.
  struct DecodeCounts {
    std::atomic<int64_t> boxes_kept{0}, boxes_dropped{0}, size_mismatch{0}, truncated{0};
    std::mutex mu;
    std::unordered_set<int64_t> warned;  // image ids already warned about
  };
  const DecodeCounts& decode_counts() const { return *decode_; }

 private:
  void keep_only_entries();  // sample_num: drop the other images from file_

  struct Entry {
    size_t image_index;
    std::vector<Box> boxes;
    std::vector<int64_t> labels;
  };
  CocoDatasetOptions opt_;
  CocoFile file_;
  std::vector<Entry> entries_;
  std::vector<int64_t> category_ids_;  // label -> category id, sorted by id
  std::unordered_map<int64_t, int64_t> label_of_;
  std::vector<std::string> class_names_;
  CocoDatasetStats stats_;
  std::shared_ptr<DecodeCounts> decode_ = std::make_shared<DecodeCounts>();
  bool warn_once(int64_t image_id) const;
};

// Whether an encoded JPEG stops before its end-of-image marker (a file cut
// short): libjpeg only warns and fills the rest grey. Other formats: false.
bool jpeg_truncated(const std::vector<unsigned char>& bytes);

}  // namespace compress
