#include "train/data/loader.h"

#include <spdlog/spdlog.h>

#include <opencv2/core.hpp>

#include "train/util/error.h"
#include "train/util/rng.h"

namespace compress {

Batch collate(const std::vector<Sample>& samples) {
  Batch b;
  const int64_t B = static_cast<int64_t>(samples.size());
  if (B == 0) return b;
  const int H = samples[0].image.rows, W = samples[0].image.cols;
  size_t M = 1;
  for (const auto& s : samples) {
    TORCH_CHECK(s.image.type() == CV_32FC3,
                "collate: expected normalized float RGB images; add NormalizeImage "
                "to the reader's sample_transforms");
    TORCH_CHECK(s.image.rows == H && s.image.cols == W, "collate: images of one batch differ in size (", H, "x", W,
                " vs ", s.image.rows, "x", s.image.cols, "); add ResizeImage or RandomShape");
    M = std::max(M, s.boxes.size());
  }
  auto images = torch::empty({B, H, W, 3}, torch::kFloat32);
  b.boxes = torch::zeros({B, static_cast<int64_t>(M), 4}, torch::kFloat32);
  b.labels = torch::full({B, static_cast<int64_t>(M)}, -1, torch::kInt64);
  b.scores = torch::zeros({B, static_cast<int64_t>(M)}, torch::kFloat32);
  b.num_boxes = torch::empty({B}, torch::kInt64);
  b.orig_sizes = torch::empty({B, 2}, torch::kInt64);
  auto boxes = b.boxes.accessor<float, 3>();
  auto labels = b.labels.accessor<int64_t, 2>();
  auto scores = b.scores.accessor<float, 2>();
  float* dst = images.data_ptr<float>();
  for (int64_t i = 0; i < B; ++i) {
    const Sample& s = samples[i];
    const size_t row_bytes = static_cast<size_t>(W) * 3 * sizeof(float);
    for (int y = 0; y < H; ++y) std::memcpy(dst + (i * H + y) * W * 3, s.image.ptr<float>(y), row_bytes);
    TORCH_CHECK(s.scores.empty() || s.scores.size() == s.boxes.size(), "collate: image ", s.image_id, " has ",
                s.boxes.size(), " boxes but ", s.scores.size(), " box scores");
    for (size_t k = 0; k < s.boxes.size(); ++k) {
      boxes[i][k][0] = s.boxes[k].x1, boxes[i][k][1] = s.boxes[k].y1;
      boxes[i][k][2] = s.boxes[k].x2, boxes[i][k][3] = s.boxes[k].y2;
      labels[i][k] = s.labels[k];
      scores[i][k] = s.scores.empty() ? 1.f : s.scores[k];
    }
    b.num_boxes[i] = static_cast<int64_t>(s.boxes.size());
    b.orig_sizes[i][0] = s.orig_height;
    b.orig_sizes[i][1] = s.orig_width;
    b.image_ids.push_back(s.image_id);
  }
  b.images = images.permute({0, 3, 1, 2}).contiguous();  // (B, H, W, 3) -> (B, 3, H, W)
  return b;
}

DataLoader::DataLoader(std::shared_ptr<const CocoDataset> dataset, std::shared_ptr<const Pipeline> pipeline,
                       LoaderOptions opt)
    : dataset_(std::move(dataset)), pipeline_(std::move(pipeline)), opt_(opt) {
  if (opt_.batch_size <= 0) fail("batch_size must be positive, got ", opt_.batch_size);
  if (opt_.workers < 0) fail("worker_num must be >= 0, got ", opt_.workers);
  if (opt_.world_size < 1 || opt_.rank < 0 || opt_.rank >= opt_.world_size)
    fail("invalid rank ", opt_.rank, " of world size ", opt_.world_size);
  // Loader threads already use the cores; OpenCV's own pool would oversubscribe them.
  if (opt_.workers > 0) cv::setNumThreads(1);
}

DataLoader::~DataLoader() { stop_workers(); }

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  const int64_t n = static_cast<int64_t>(dataset_->size());
  std::vector<int64_t> all(n);
  for (int64_t i = 0; i < n; ++i) all[i] = i;
  if (opt_.shuffle) {
    Rng rng(mix_seed(opt_.seed, static_cast<uint64_t>(epoch), 0x5eed));
    for (int64_t i = n - 1; i > 0; --i) std::swap(all[i], all[rng.randint(0, i)]);
  }
  if (opt_.world_size == 1) return all;
  // Every rank gets the same count (wrapping around), a disjoint stride of the permutation.
  const int64_t per_rank = (n + opt_.world_size - 1) / opt_.world_size;
  std::vector<int64_t> mine;
  for (int64_t k = 0; k < per_rank; ++k) mine.push_back(all[(k * opt_.world_size + opt_.rank) % n]);
  return mine;
}

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = static_cast<int64_t>(epoch_order(0).size());
  return opt_.drop_last ? n / opt_.batch_size : (n + opt_.batch_size - 1) / opt_.batch_size;
}

Sample DataLoader::make_sample(int64_t epoch, int64_t idx) const {
  Sample s = dataset_->load_sample(static_cast<size_t>(idx));
  Rng rng(mix_seed(opt_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(idx), 1));
  const int64_t n = static_cast<int64_t>(dataset_->size());
  for (const auto& t : pipeline_->sample) {
    const auto* blend = dynamic_cast<const PartnerTransform*>(t.get());
    if (blend && epoch < opt_.mixup_epoch && n > 1) {
      // The partner: any other image of the whole dataset (not only this rank's
      // shard), decoded and untransformed, as the reference's reader attaches it.
      int64_t j = rng.randint(0, n - 2);
      if (j >= idx) ++j;
      Sample partner;
      try {
        partner = dataset_->load_sample(static_cast<size_t>(j));
      } catch (const Error& e) {
        if (opt_.strict) throw;
        spdlog::warn("{}: leaving image {} unmixed: {}", t->name(), s.image_id, e.what());
        continue;
      }
      blend->apply(s, std::move(partner), rng);
    } else {
      t->apply(s, rng);
    }
  }
  return s;
}

Batch DataLoader::make_batch(int64_t epoch, int64_t b) const {
  std::vector<Sample> samples;
  int64_t skipped = 0;
  const int64_t begin = b * opt_.batch_size;
  const int64_t end = std::min<int64_t>(begin + opt_.batch_size, static_cast<int64_t>(order_.size()));
  for (int64_t k = begin; k < end; ++k) {
    const int64_t idx = order_[k];
    try {
      samples.push_back(make_sample(epoch, idx));
    } catch (const Error& e) {
      if (opt_.strict) throw;
      spdlog::warn("skipping an unreadable image: {}", e.what());
      ++skipped;
    }
  }
  Rng batch_rng(mix_seed(opt_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(b), 2));
  for (const auto& t : pipeline_->batch) t->apply(samples, batch_rng);
  Batch out = collate(samples);
  out.index = b;
  out.skipped = skipped;
  return out;
}

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_space_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  stop_ = false;
}

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  stop_workers();
  epoch_ = epoch;
  order_ = epoch_order(epoch);
  n_batches_ = batches_per_epoch();
  next_produce_ = next_consume_ = std::min(first_batch, n_batches_);
  ready_.clear();
  errors_.clear();
  for (int w = 0; w < opt_.workers; ++w) threads_.emplace_back([this, epoch] { worker_loop(epoch); });
}

void DataLoader::worker_loop(int64_t epoch) {
  const int64_t capacity = std::max(1, opt_.prefetch) * std::max(1, opt_.workers);
  for (;;) {
    int64_t b;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_space_.wait(lock, [&] { return stop_ || next_produce_ < next_consume_ + capacity; });
      if (stop_ || next_produce_ >= n_batches_) return;
      b = next_produce_++;
    }
    Batch batch;
    std::exception_ptr err;
    try {
      batch = make_batch(epoch, b);
    } catch (...) {
      err = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (err)
        errors_[b] = err;
      else
        ready_[b] = std::move(batch);
    }
    cv_ready_.notify_all();
  }
}

std::optional<Batch> DataLoader::next() {
  while (next_consume_ < n_batches_) {
    Batch b;
    if (opt_.workers == 0) {
      b = make_batch(epoch_, next_consume_);
    } else {
      std::unique_lock<std::mutex> lock(mu_);
      cv_ready_.wait(lock, [&] { return ready_.count(next_consume_) || errors_.count(next_consume_); });
      if (errors_.count(next_consume_)) {
        auto err = errors_[next_consume_];
        lock.unlock();
        stop_workers();
        std::rethrow_exception(err);
      }
      b = std::move(ready_[next_consume_]);
      ready_.erase(next_consume_);
    }
    ++next_consume_;
    cv_space_.notify_all();
    skipped_total_ += b.skipped;
    if (b.size() > 0) return b;  // a batch whose every image was unreadable is skipped whole
  }
  return std::nullopt;
}

}  // namespace compress
