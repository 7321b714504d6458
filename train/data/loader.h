// Multi-threaded, prefetching batch loader. Deterministic for a given seed:
// each sample's augmentation RNG is seeded from (seed, epoch, dataset index) and
// each batch's from (seed, epoch, batch index), so the worker count and thread
// timing never change what a batch holds. MixupImage's partner image and factor
// come from the sample's RNG too.
#pragma once
#include <torch/types.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "train/data/coco_dataset.h"
#include "train/data/transforms/transforms.h"

namespace compress {

struct Batch {
  torch::Tensor images;      // (B, 3, H, W) float32
  torch::Tensor boxes;       // (B, M, 4) float32, xyxy in input pixels, zero-padded
  torch::Tensor labels;      // (B, M) int64, -1 where padded
  torch::Tensor scores;      // (B, M) float32: each box's mixup weight (1 without mixup), 0 where padded
  torch::Tensor num_boxes;   // (B) int64
  torch::Tensor orig_sizes;  // (B, 2) int64: (height, width) of the decoded file
  std::vector<int64_t> image_ids;
  int64_t index = 0;    // batch index within the epoch
  int64_t skipped = 0;  // unreadable images left out of this batch
  int64_t size() const { return static_cast<int64_t>(image_ids.size()); }
};

// Stacks same-sized samples (all images normalized to float) and pads the box lists.
Batch collate(const std::vector<Sample>& samples);

struct LoaderOptions {
  int batch_size = 8;
  bool shuffle = true;
  bool drop_last = true;
  int workers = 2;   // 0 = load in the calling thread
  int prefetch = 4;  // batches in flight per worker
  uint64_t seed = 0;
  bool strict = false;           // an unreadable image is an error, not a skip
  int rank = 0, world_size = 1;  // shard of the data this process reads
  int64_t mixup_epoch = -1;      // epochs [0, mixup_epoch) give MixupImage a partner image
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const CocoDataset> dataset, std::shared_ptr<const Pipeline> pipeline, LoaderOptions opt);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Begins an epoch (reshuffled from seed and epoch) at batch `first_batch`
  // (a resumed run skips what it has seen); restarts the workers.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the epoch in order, or nullopt when the epoch is over.
  std::optional<Batch> next();
  int64_t batches_per_epoch() const;
  int64_t skipped_images() const { return skipped_total_; }
  const CocoDataset& dataset() const { return *dataset_; }
  // The dataset indices this rank reads in `epoch`, in order.
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  Batch make_batch(int64_t epoch, int64_t b) const;
  // Loads dataset image `idx` and runs the sample transforms on it.
  Sample make_sample(int64_t epoch, int64_t idx) const;
  void stop_workers();
  void worker_loop(int64_t epoch);

  std::shared_ptr<const CocoDataset> dataset_;
  std::shared_ptr<const Pipeline> pipeline_;
  LoaderOptions opt_;
  std::vector<int64_t> order_;
  int64_t epoch_ = 0, n_batches_ = 0, next_produce_ = 0, next_consume_ = 0, skipped_total_ = 0;
  bool stop_ = false;
  std::mutex mu_;
  std::condition_variable cv_ready_, cv_space_;
  std::map<int64_t, Batch> ready_;
  std::map<int64_t, std::exception_ptr> errors_;
  std::vector<std::thread> threads_;
};

}  // namespace compress
