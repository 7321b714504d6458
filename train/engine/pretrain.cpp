#include "train/engine/pretrain.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "train/config/config.h"
#include "train/data/fashion_det.h"
#include "train/data/reader_preview.h"
#include "train/engine/checkpoint.h"
#include "train/engine/device.h"
#include "train/engine/distributed.h"
#include "train/engine/lr_schedule.h"
#include "train/engine/optimizer.h"
#include "train/engine/trainer.h"
#include "train/util/draw.h"
#include "train/util/error.h"
#include "train/util/metrics_log.h"
#include "train/util/progress.h"
#include "train/util/rng.h"

namespace compress {
namespace fs = std::filesystem;

torch::Tensor item_batch(const FashionItems& items, const std::vector<int>& indices, const ItemCropOptions& crop,
                         const Normalization& norm, uint64_t seed) {
  std::vector<uint64_t> seeds;
  for (size_t k = 0; k < indices.size(); ++k) seeds.push_back(mix_seed(seed, k));
  return item_batch(items, indices, crop, norm, seeds);
}

torch::Tensor item_batch(const FashionItems& items, const std::vector<int>& indices, const ItemCropOptions& crop,
                         const Normalization& norm, const std::vector<uint64_t>& seeds) {
  TORCH_CHECK(seeds.size() == indices.size(), "item_batch: ", seeds.size(), " seeds for ", indices.size(), " items");
  const int64_t N = static_cast<int64_t>(indices.size()), S = crop.size;
  auto batch = torch::empty({N, S, S, 3}, torch::kUInt8);  // NHWC RGB, as the crops come
  for (int64_t k = 0; k < N; ++k) {
    const auto i = static_cast<size_t>(k);
    const cv::Mat bgr = render_item_crop(items, indices[i], crop, seeds[i]);
    cv::Mat rgb(S, S, CV_8UC3, batch[k].data_ptr<uint8_t>());
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);  // writes into the batch tensor
  }
  auto x = batch.permute({0, 3, 1, 2}).to(torch::kFloat32);  // (N, 3, S, S)
  if (norm.is_scale) x = x / 255.0;
  const auto mean = torch::tensor({norm.mean[0], norm.mean[1], norm.mean[2]}).view({1, 3, 1, 1});
  const auto stdv = torch::tensor({norm.std[0], norm.std[1], norm.std[2]}).view({1, 3, 1, 1});
  return ((x - mean) / stdv).contiguous();
}

double top1_accuracy(BackboneClassifier& model, const FashionItems& items, int count, ItemCropOptions crop,
                     const Normalization& norm, int batch_size, uint64_t seed) {
  count = std::min(count, items.count());
  if (count <= 0) return -1;
  crop.flip = false;
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const auto device = model->parameters().front().device();
  int64_t right = 0;
  for (int start = 0; start < count; start += batch_size) {
    std::vector<int> idx;
    for (int i = start; i < std::min(count, start + batch_size); ++i) idx.push_back(i);
    // One seed per item, whatever the batch size: the same crops every time
    // (item i's: the first crop of a one-item batch seeded mix_seed(seed, i)).
    std::vector<uint64_t> seeds;
    for (int i : idx) seeds.push_back(mix_seed(mix_seed(seed, static_cast<uint64_t>(i)), 0));
    const auto x = item_batch(items, idx, crop, norm, seeds);
    const auto pred = model->forward(x.to(device)).argmax(1).cpu();
    auto p = pred.accessor<int64_t, 1>();
    for (size_t k = 0; k < idx.size(); ++k)
      right += p[static_cast<int64_t>(k)] == items.labels[static_cast<size_t>(idx[k])];
  }
  model->train(was_training);
  return static_cast<double>(right) / count;
}

namespace {

// Iteration `iter`'s items and the seed of its crops: a function of (seed,
// iter) alone, so a resumed run draws what the killed one would have drawn.
std::vector<int> batch_items(const FashionItems& items, int batch_size, uint64_t seed, int64_t iter) {
  Rng rng(mix_seed(seed, 0x9e7, static_cast<uint64_t>(iter)));
  std::vector<int> idx(static_cast<size_t>(batch_size));
  for (auto& i : idx) i = static_cast<int>(rng.randint(0, items.count() - 1));
  return idx;
}
uint64_t crop_seed(uint64_t seed, int64_t iter) { return mix_seed(seed, 0x9e8, static_cast<uint64_t>(iter)); }

// The first iteration's crops, each framed and labelled with its class, so a
// person can see what the backbone learns from.
void write_crop_preview(const std::string& path, const FashionItems& items, const std::vector<int>& idx,
                        const ItemCropOptions& crop, uint64_t seed, int count) {
  std::vector<PreviewTile> tiles;
  for (int k = 0; k < std::min<int>(count, static_cast<int>(idx.size())); ++k) {
    PreviewTile t;
    t.bgr = render_item_crop(items, idx[static_cast<size_t>(k)], crop, mix_seed(seed, static_cast<uint64_t>(k)));
    const float e = static_cast<float>(crop.size - 1);
    t.boxes.push_back({0.f, 0.f, e, e, items.labels[static_cast<size_t>(idx[static_cast<size_t>(k)])]});
    tiles.push_back(std::move(t));
  }
  const std::vector<std::string> names(std::begin(kFashionClassNames), std::end(kFashionClassNames));
  write_image(path, draw_preview(std::move(tiles), names, 160));
}

}  // namespace

PretrainResult run_pretrain(const Config& cfg, const PretrainOptions& o) {
  // Every rank would write the same files: pretraining is one process (a few
  // minutes here), and only detector training is data-parallel.
  if (const DistEnv env = dist_env_from_environment(); env.enabled())
    fail("pretrain runs in one process, but WORLD_SIZE is ", env.world_size,
         ": run it without torchrun or tools/dist_train.sh");
  const std::string P = "pretrain.";
  ItemCropOptions crop;
  crop.size = cfg.get<int>(P + "image_size");
  const auto scale = cfg.get<std::vector<double>>(P + "item_scale");
  if (scale.size() != 2)
    fail("config '", cfg.source(), "': ", P, "item_scale needs [lo, hi], got ", scale.size(), " values");
  crop.scale_lo = scale[0], crop.scale_hi = scale[1];
  if (!(crop.scale_lo > 0 && crop.scale_lo <= crop.scale_hi && crop.scale_hi <= 1))
    fail("config '", cfg.source(), "': ", P, "item_scale [", crop.scale_lo, ", ", crop.scale_hi,
         "] must satisfy 0 < lo <= hi <= 1");
  const int batch_size = cfg.get<int>(P + "batch_size");
  const int64_t max_iters = cfg.get<int64_t>(P + "max_iters");
  if (batch_size <= 0 || max_iters <= 0)
    fail("config '", cfg.source(), "': ", P, "batch_size and ", P, "max_iters must be positive");
  const int eval_items = cfg.get<int>(P + "eval_items");
  const int64_t snapshot_iter =
      std::max<int64_t>(1, cfg.get<int64_t>(P + "snapshot_iter") > 0 ? cfg.get<int64_t>(P + "snapshot_iter")
                                                                     : cfg.get<int64_t>("snapshot_iter"));
  const int64_t log_iter = std::max<int64_t>(1, cfg.get<int64_t>("log_iter"));
  const uint64_t seed = static_cast<uint64_t>(cfg.get<int64_t>("seed"));
  const Normalization norm =
      normalization_of(cfg, "TrainReader", "(pretraining feeds the backbone what the detector's reader feeds it)");
  const std::string mnist = cfg.get<std::string>(P + "mnist_dir");
  const FashionItems train_items = load_fashion_items(mnist, "train");
  const FashionItems test_items = eval_items > 0 ? load_fashion_items(mnist, "t10k") : FashionItems{};

  PretrainResult res;
  res.run_dir = o.run_dir.empty() ? default_run_dir(cfg) + "_backbone" : o.run_dir;
  fs::create_directories(res.run_dir);
  BackboneClassifier model(backbone_spec_from_config(cfg), 10);
  const c10::Device device = training_device(cfg, 0);
  model->to(device);
  OptimizerBundle opt = make_optimizer(*model, cfg);
  LRSchedule schedule;
  schedule.base_lr =
      cfg.get<double>(P + "base_lr") > 0 ? cfg.get<double>(P + "base_lr") : cfg.get<double>("LearningRate.base_lr");
  schedule.decay = LRSchedule::Decay::Cosine;
  schedule.cosine_iters = max_iters;
  schedule.warmup_steps = std::min<int64_t>(cfg.get<int64_t>(P + "warmup_steps"), max_iters);
  schedule.warmup_start_factor = 0.1;
  TrainState state;
  state.arch = kBackboneClassifierArch;
  state.config_yaml = cfg.dump();
  if (!o.resume.empty()) {
    if (const std::string arch = read_checkpoint_state(o.resume).arch; arch != kBackboneClassifierArch)
      fail("checkpoint '", o.resume, "' is not a `compress pretrain` checkpoint (it holds a ",
           arch.empty() ? "detector" : arch, "); resume from a pretrain run's latest.pt");
    const TrainState s = load_checkpoint(o.resume, *model, opt.optimizer.get());
    state.iter = s.iter, state.best_ap = s.best_ap;
    spdlog::info("resumed backbone pretraining from '{}' at iteration {}", o.resume, s.iter);
  }
  MetricsLog metrics((fs::path(res.run_dir) / "metrics.jsonl").string(), /*append=*/!o.resume.empty(), state.iter);
  auto snapshot = [&](bool final_one) {
    if (eval_items > 0) {
      res.top1 = top1_accuracy(model, test_items, eval_items, crop, norm, batch_size);
      state.best_ap = res.top1;  // the checkpoint's score field holds top-1 here
      metrics.write({{"iter", state.iter},
                     {"kind", "eval"},
                     {"top1", res.top1},
                     {"items", std::min(eval_items, test_items.count())}});
      spdlog::info("eval @ {}: top-1 {:.4f} on {} t10k items", state.iter, res.top1,
                   std::min(eval_items, test_items.count()));
    }
    save_checkpoint((fs::path(res.run_dir) / "latest.pt").string(), *model, opt.optimizer.get(), state);
    if (final_one) save_checkpoint((fs::path(res.run_dir) / "model_final.pt").string(), *model, nullptr, state);
  };

  if (o.resume.empty()) {
    const std::string preview = (fs::path(res.run_dir) / "crops.png").string();
    write_crop_preview(preview, train_items, batch_items(train_items, batch_size, seed, 0), crop, crop_seed(seed, 0),
                       16);
    spdlog::info("the first batch's crops: {}", preview);
  }
  model->train();
  spdlog::info(
      "pretraining the {} backbone on Fashion-MNIST crops ({} px, items {:.2f}-{:.2f} of the side), batch {}, {} "
      "iterations",
      model->spec.type == "ResNet" ? "ResNet" + std::to_string(model->spec.depth)
                                   : "MobileNetV3-" + model->spec.model_name,
      crop.size, crop.scale_lo, crop.scale_hi, batch_size, max_iters);
  double window_loss = 0;
  int64_t window_right = 0, window_n = 0, window_steps = 0;
  const int64_t start_iter = state.iter;
  const auto t0 = std::chrono::steady_clock::now();
  auto window_t0 = t0;
  while (state.iter < max_iters) {
    const std::vector<int> idx = batch_items(train_items, batch_size, seed, state.iter);
    const auto x = item_batch(train_items, idx, crop, norm, crop_seed(seed, state.iter));
    std::vector<int64_t> y_host(idx.size());
    for (size_t k = 0; k < idx.size(); ++k) y_host[k] = train_items.labels[static_cast<size_t>(idx[k])];
    const auto y = torch::tensor(y_host).to(device);
    const double lr = schedule.lr(state.iter);
    opt.set_lr(lr);
    opt.optimizer->zero_grad();
    const auto logits = model->forward(x.to(device));  // (N, 10)
    const auto loss = torch::nn::functional::cross_entropy(logits, y);
    const double loss_value = loss.item<double>();
    TORCH_CHECK(std::isfinite(loss_value), "pretrain: loss is not finite at iteration ", state.iter,
                " (lower pretrain.base_lr)");
    loss.backward();
    if (opt.clip_grad_norm > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), opt.clip_grad_norm);
    opt.optimizer->step();
    ++state.iter;
    window_loss += loss_value;
    window_right += logits.argmax(1).eq(y).sum().item<int64_t>();
    window_n += batch_size;
    ++window_steps;
    if (state.iter % log_iter == 0 || state.iter == max_iters) {
      const auto now = std::chrono::steady_clock::now();
      const double dt = std::chrono::duration<double>(now - window_t0).count();
      const double it_s = (state.iter - start_iter) / std::max(std::chrono::duration<double>(now - t0).count(), 1e-9);
      const double acc = static_cast<double>(window_right) / window_n, ips = window_n / std::max(dt, 1e-9);
      metrics.write({{"iter", state.iter},
                     {"kind", "pretrain"},
                     {"loss", window_loss / window_steps},
                     {"acc", acc},
                     {"lr", lr},
                     {"images_per_s", ips}});
      spdlog::info("iter {}/{} | loss {:.4f} | train acc {:.3f} | lr {:.6f} | {:.1f} img/s | ETA {}", state.iter,
                   max_iters, window_loss / window_steps, acc, lr, ips,
                   format_duration((max_iters - state.iter) / std::max(it_s, 1e-9)));
      window_loss = 0, window_right = window_n = window_steps = 0;
      window_t0 = now;
    }
    if (state.iter % snapshot_iter == 0 && state.iter < max_iters) snapshot(false);
    if (state.iter == o.stop_at) {
      res.iters = state.iter;
      return res;
    }
  }
  snapshot(true);
  res.iters = state.iter;
  spdlog::info(
      "pretraining done: {} iterations, backbone in {}/model_final.pt (start a detector from it with "
      "-o pretrain_weights=...)",
      state.iter, res.run_dir);
  return res;
}

}  // namespace compress
