#include "train/engine/trainer.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "train/data/reader.h"
#include "train/engine/device.h"
#include "train/engine/evaluate.h"
#include "train/engine/sync_bn.h"
#include "train/models/layers.h"
#include "train/util/atomic_file.h"
#include "train/util/error.h"
#include "train/util/progress.h"

namespace compress {
namespace fs = std::filesystem;

std::string default_run_dir(const Config& cfg) {
  const std::string stem = cfg.source().empty() ? "run" : fs::path(cfg.source()).stem().string();
  return (fs::path(cfg.get<std::string>("save_dir")) / stem).string();
}

Trainer::Trainer(Config cfg, Detector model, TrainOptions opt)
    : cfg_(std::move(cfg)), model_(std::move(model)), opt_(std::move(opt)) {
  run_dir_ = opt_.run_dir.empty() ? default_run_dir(cfg_) : opt_.run_dir;
  dist_ = dist_init(cfg_);
  main_ = !dist_ || dist_->is_main();
  // Rank 0 alone logs progress (setup_logging already quiets the CLI's other
  // ranks; --log-level debug keeps them talking).
  if (!main_ && spdlog::get_level() == spdlog::level::info) spdlog::set_level(spdlog::level::warn);
  if (dist_ && cfg_.get<bool>("sync_bn")) set_batch_norm_forward(&sync_batch_norm);
  const int rank = dist_ ? dist_->rank() : 0, world = dist_ ? dist_->world_size() : 1;
  if (main_) {
    fs::create_directories(run_dir_);
    // Temp files a killed run left mid-write (their pid is gone) go at the start.
    for (const char* f : {"latest.pt", "best_model.pt", "model_final.pt", "eval_dets.json", "metrics.jsonl"})
      if (const int n = remove_stale_temps((fs::path(run_dir_) / f).string()); n > 0)
        spdlog::info("removed {} temp file(s) of '{}' left by a killed run", n, f);
  }
  // The device first: the optimizer then holds the device's parameters.
  const c10::Device device = training_device(cfg_, dist_env_from_environment().local_rank);
  model_->to(device);
  opt_bundle_ = make_optimizer(*model_, cfg_);
  schedule_ = LRSchedule::from_config(cfg_);
  state_.config_yaml = cfg_.dump();
  state_.arch = model_->arch();
  state_.transforms = opt_.transforms;
  const std::string pretrain = cfg_.get<std::string>("pretrain_weights");
  if (!opt_.resume.empty()) {
    const TrainState s = load_checkpoint(opt_.resume, *model_, opt_bundle_.optimizer.get());
    if (!device.is_cpu()) move_optimizer_state(*opt_bundle_.optimizer, device);
    state_.iter = s.iter;
    state_.best_ap = s.best_ap;
    spdlog::info("resumed from '{}' at iteration {}", opt_.resume, s.iter);
  } else if (!pretrain.empty()) {
    if (read_checkpoint_state(pretrain).arch == kBackboneClassifierArch) {
      // A backbone from `compress pretrain`: the heads start from their own init.
      const BackboneLoad r = load_backbone_weights(pretrain, *model_);
      spdlog::info("backbone initialised from '{}' ({} tensors{}); the rest from scratch", pretrain, r.loaded,
                   r.unused ? fmt::format(", {} deeper ones unused", r.unused) : std::string());
    } else {
      load_weights(pretrain, *model_);
      spdlog::info("initialised from '{}'", pretrain);
    }
  }
  if (dist_) {
    // Every rank starts from rank 0's weights (and optimizer state after -r is
    // identical anyway: all ranks read the same file).
    std::vector<torch::Tensor> all;
    for (auto& p : model_->parameters()) all.push_back(p);
    for (auto& b : model_->buffers()) all.push_back(b);
    dist_->broadcast(all, 0);
  }
  // SSDLite's last extra layers end in 1x1 maps: one image gives BatchNorm one
  // value per channel, which it cannot normalise in training.
  if (cfg_.get<std::string>("architecture") == "SSD" && cfg_.get<int>("TrainReader.batch_size") < 2)
    fail("config '", cfg_.source(),
         "': key 'TrainReader.batch_size': SSDLite trains with at least 2 images per step "
         "(its last feature maps are 1x1, and BatchNorm in training needs more than one value per channel), got 1");
  train_ds_ = load_dataset(cfg_, "TrainReader");
  train_loader_ = make_loader(cfg_, "TrainReader", train_ds_, rank, world);
  if (train_loader_->batches_per_epoch() == 0)
    fail("TrainReader: ", train_ds_->size(), " images are fewer than one batch of ",
         cfg_.get<int>("TrainReader.batch_size"));
  if (train_ds_->num_classes() != model_->num_classes)
    fail("num_classes is ", model_->num_classes, " but '", train_ds_->options().anno_path, "' has ",
         train_ds_->num_classes(), " categories");
  if (opt_.eval) {  // each rank evaluates its shard; rank 0 merges and scores the whole set
    eval_ds_ = load_dataset(cfg_, "EvalReader");
    eval_loader_ = make_loader(cfg_, "EvalReader", eval_ds_, rank, world);
  }
  if (main_)
    metrics_ = std::make_unique<MetricsLog>((fs::path(run_dir_) / "metrics.jsonl").string(),
                                            /*append=*/!opt_.resume.empty(), state_.iter);
}

LossTerms Trainer::compute_gradients(const Batch& batch) {
  opt_bundle_.optimizer->zero_grad();
  const auto device = model_->parameters()[0].device();
  const auto outputs = model_->forward(batch.images.to(device));
  LossTerms terms = model_->loss(outputs, batch);
  if (extra_loss) extra_loss(outputs, batch, terms);
  TORCH_CHECK(std::isfinite(terms.total.item<double>()), "loss is not finite at iteration ", state_.iter,
              " (lower LearningRate.base_lr or enable OptimizerBuilder.clip_grad_norm)");
  terms.total.backward();
  return terms;
}

void Trainer::sync_gradients() {
  if (!dist_) return;
  std::vector<torch::Tensor> grads;
  for (auto& p : model_->parameters())
    if (p.requires_grad()) {
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);  // every rank reduces the same list
      grads.push_back(p.grad());
    }
  dist_->allreduce_mean(grads, cfg_.get<double>("distributed.bucket_mb"));
}

void Trainer::apply_step() {
  if (opt_bundle_.clip_grad_norm > 0) {
    std::vector<torch::Tensor> params;
    for (const auto& g : opt_bundle_.groups) params.insert(params.end(), g.params.begin(), g.params.end());
    torch::nn::utils::clip_grad_norm_(params, opt_bundle_.clip_grad_norm);
  }
  opt_bundle_.optimizer->step();
}

double Trainer::evaluate(int64_t iter) {
  EvalRun run = run_evaluation(*model_, *eval_loader_, *eval_ds_, /*progress=*/main_, /*score=*/!dist_);
  if (dist_) run = gather_evaluation(std::move(run), *dist_, *eval_ds_);
  if (!main_) return 0;
  // The last evaluation's detections, as `compress eval` writes them.
  write_coco_results((fs::path(run_dir_) / "eval_dets.json").string(), run.dets);
  nlohmann::json rec = run.result.stats.to_json();
  rec["iter"] = iter;
  rec["kind"] = "eval";
  rec["eval_seconds"] = run.seconds;
  metrics_->write(rec);
  spdlog::info("eval @ {}: AP {:.4f} AP50 {:.4f} ({} images, {:.1f} s)", iter, run.result.stats.ap(),
               run.result.stats.ap50(), run.images, run.seconds);
  return run.result.stats.ap();
}

void Trainer::snapshot(bool final_one) {
  if (dist_) {
    // BN running statistics drift apart per rank: save (and go on with) their mean.
    std::vector<torch::Tensor> stats;
    for (const auto& b : model_->named_buffers())
      if (b.value().is_floating_point() && b.key().find("running_") != std::string::npos) stats.push_back(b.value());
    dist_->allreduce_mean(stats);
  }
  // Every rank evaluates its shard (a collective), then rank 0 alone writes.
  const double ap = opt_.eval ? evaluate(state_.iter) : 0;
  if (!main_) {
    dist_->barrier();  // wait while rank 0 writes
    return;
  }
  const std::string latest = (fs::path(run_dir_) / "latest.pt").string();
  if (opt_.eval) {
    if (ap > state_.best_ap) {
      state_.best_ap = ap;
      save_checkpoint((fs::path(run_dir_) / "best_model.pt").string(), *model_, nullptr, state_);
      spdlog::info("new best AP {:.4f}: {}/best_model.pt", ap, run_dir_);
    }
  }
  save_checkpoint(latest, *model_, opt_bundle_.optimizer.get(), state_);
  if (final_one) save_checkpoint((fs::path(run_dir_) / "model_final.pt").string(), *model_, nullptr, state_);
  if (dist_) dist_->barrier();
}

TrainState Trainer::train() {
  const int64_t max_iters = cfg_.get<int64_t>("max_iters");
  const int64_t snapshot_iter = std::max<int64_t>(1, cfg_.get<int64_t>("snapshot_iter"));
  const int64_t log_iter = std::max<int64_t>(1, cfg_.get<int64_t>("log_iter"));
  const int64_t per_epoch = train_loader_->batches_per_epoch();
  model_->train();
  if (cfg_.get<bool>("freeze_bn"))
    for (const auto& m : model_->modules(/*include_self=*/false))
      if (auto* bn = m->as<torch::nn::BatchNorm2d>()) bn->eval();
  // Fault injection for the multi-process tests: this rank dies (or, with
  // COMPRESS_FAULT_SIGNAL=STOP, stalls) at this step.
  const int fault_rank = std::getenv("COMPRESS_FAULT_RANK") ? std::atoi(std::getenv("COMPRESS_FAULT_RANK")) : -1;
  const char* fault_signal = std::getenv("COMPRESS_FAULT_SIGNAL");
  const int fault_sig = fault_signal && std::string(fault_signal) == "STOP" ? SIGSTOP : SIGKILL;
  const int64_t fault_iter = std::getenv("COMPRESS_FAULT_ITER") ? std::atoll(std::getenv("COMPRESS_FAULT_ITER")) : -1;
  // Resume exactly where the run stopped: same epoch, same batch within it.
  int64_t epoch = state_.iter / per_epoch;
  train_loader_->start_epoch(epoch, state_.iter % per_epoch);
  std::map<std::string, double> window;
  int64_t window_n = 0, window_images = 0;
  auto window_t0 = std::chrono::steady_clock::now();
  double window_comm0 = dist_ ? dist_->comm_seconds() : 0.0;
  const int64_t start_iter = state_.iter;
  const auto run_t0 = std::chrono::steady_clock::now();
  while (state_.iter < max_iters) {
    auto batch = train_loader_->next();
    if (!batch) {
      train_loader_->start_epoch(++epoch);
      continue;
    }
    if (state_.iter == start_iter) {  // a run that would learn from nothing stops before its first step
      const auto& dc = train_ds_->decode_counts();
      if (dc.boxes_kept == 0 && dc.boxes_dropped > 0)
        fail(train_ds_->options().anno_path, ": every box of the first ", batch->size(),
             " images was dropped after "
             "rescaling to the decoded image size (",
             dc.size_mismatch.load(),
             " images declare another width/height "
             "than they decode to; fix the annotation file's image sizes)");
    }
    const double lr = schedule_.lr(state_.iter);
    opt_bundle_.set_lr(lr);
    if (before_step) before_step(state_.iter);
    if (dist_ && dist_->rank() == fault_rank && state_.iter == fault_iter) raise(fault_sig);
    const LossTerms terms = compute_gradients(*batch);
    sync_gradients();
    apply_step();
    ++state_.iter;
    window["loss"] += terms.total.item<double>();
    for (const auto& [name, t] : terms.terms) window[name] += t.item<double>();
    ++window_n;
    window_images += batch->size();
    if (state_.iter % log_iter == 0 || state_.iter == max_iters) {
      const auto now = std::chrono::steady_clock::now();
      const double dt = std::chrono::duration<double>(now - window_t0).count();
      const double ips = window_images / std::max(dt, 1e-9);
      const double it_s =
          (state_.iter - start_iter) / std::max(std::chrono::duration<double>(now - run_t0).count(), 1e-9);
      const double elapsed = std::chrono::duration<double>(now - run_t0).count();
      const double s_per_iter = dt / std::max<int64_t>(window_n, 1);
      nlohmann::json rec{{"iter", state_.iter}, {"kind", "train"},          {"lr", lr},
                         {"images_per_s", ips}, {"s_per_iter", s_per_iter}, {"elapsed_s", elapsed}};
      std::string terms_text;
      for (const auto& [name, sum] : window) {
        rec[name] = sum / window_n;
        if (name != "loss") terms_text += fmt::format(" {} {:.4f}", name, sum / window_n);
      }
      if (dist_) {
        // Images/s over all ranks, and the share of the window spent in collectives.
        rec["images_per_s"] = ips * dist_->world_size();
        rec["comm_share"] = (dist_->comm_seconds() - window_comm0) / std::max(dt, 1e-9);
        window_comm0 = dist_->comm_seconds();
      }
      if (metrics_) metrics_->write(rec);
      spdlog::info("iter {}/{} | loss {:.4f} ({}) | lr {:.6f} | {:.1f} img/s | {:.2f} s/it | elapsed {} | ETA {}",
                   state_.iter, max_iters, window["loss"] / window_n, terms_text.substr(1), lr, ips, s_per_iter,
                   format_duration(elapsed), format_duration((max_iters - state_.iter) / std::max(it_s, 1e-9)));
      window.clear();
      window_n = window_images = 0;
      window_t0 = now;
    }
    if (state_.iter % snapshot_iter == 0 && state_.iter < max_iters) snapshot(false);
  }
  snapshot(true);
  spdlog::info("training done: {} iterations ({} this run) in {}, weights in {}/model_final.pt", state_.iter,
               state_.iter - start_iter,
               format_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - run_t0).count()),
               run_dir_);
  return state_;
}

}  // namespace compress
