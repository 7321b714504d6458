// `compress bench data -c CONFIG`: data pipeline throughput (images/s).
// `compress bench train -c CONFIG --threads 1,2`: median training-step time.
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "compress/cli/command.h"
#include "compress/export/latency.h"
#include "compress/export/onednn_runner.h"
#include "compress/export/onnx_graph.h"
#include "compress/model_io.h"
#include "compress/prune/flops.h"
#include "compress/quant/qat.h"
#include "compress/quant/quant_options.h"
#include "train/config/config.h"
#include "train/data/coco_json.h"
#include "train/data/reader.h"
#include "train/engine/optimizer.h"
#include "train/models/detector.h"
#include "train/util/atomic_file.h"
#include "train/util/error.h"

#include <torch/torch.h>

namespace compress {
namespace {

class BenchCommand : public Command {
 public:
  explicit BenchCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("bench", "benchmarks");
    app_->require_subcommand(1);
    data_ = app_->add_subcommand("data", "data pipeline throughput");
    flags_.add(data_, /*required=*/true);
    data_->add_option("--reader", reader_, "TrainReader or EvalReader")->capture_default_str();
    data_->add_option("--batches", batches_, "timed batches (after 3 warm-up batches)")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    data_->add_option("--json", json_out_, "write the figures as JSON here");
    model_ = app_->add_subcommand("model", "parameters and multiply-adds of a recipe's model");
    model_flags_.add(model_, /*required=*/true);
    model_->add_option("--input", input_, "square input size (default: the EvalReader's ResizeImage)")
        ->check(CLI::Range(32, 4096));
    model_->add_option("--json", json_out_, "write the figures as JSON here");
    train_ = app_->add_subcommand("train", "median training-step time (forward, loss, backward, step)");
    train_flags_.add(train_, /*required=*/true);
    train_->add_option("--threads", threads_, "thread counts to time, e.g. 1,2")
        ->delimiter(',')
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    train_->add_option("--steps", steps_, "timed steps per thread count")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    train_->add_option("--warmup", warmup_, "untimed steps first")->check(CLI::Range(0, 100000))->capture_default_str();
    train_->add_option("--json", json_out_, "write the figures as JSON here");
    train_->add_option("--input", train_input_,
                       "square input size: the batch is resized to it, boxes scaled along (default: the size the "
                       "TrainReader drew, which RandomShape picks at random)");
    train_->add_flag("--random-images", random_images_,
                     "replace the batch's pixels with N(0, 1) noise, as the python baseline uses");
    train_->add_flag("--quant", quant_, "also time the QAT model (the config's quant section), side by side");
    train_->add_option("--not_quant_pattern", patterns_, "with --quant: convs left float");
    onnx_ =
        app_->add_subcommand("onnx", "inference latency of exported models: ONNX Runtime and LibTorch, side by side");
    onnx_->add_option("--onnx", onnx_files_, "exported model (repeat for several; the first is the baseline)")
        ->required();
    onnx_->add_option("--weights", onnx_weights_,
                      "the checkpoint each --onnx came from, in the same order, to time LibTorch too (needs -c)");
    onnx_flags_.add(onnx_, /*required=*/false);
    onnx_->add_option("--threads", threads_, "thread counts, e.g. 1,2")
        ->delimiter(',')
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    onnx_->add_option("--runs", runs_, "timed runs per model")->check(CLI::Range(1, 100000))->capture_default_str();
    onnx_->add_option("--warmup", warmup_, "untimed runs first")->check(CLI::Range(0, 100000))->capture_default_str();
    onnx_
        ->add_option("--rounds", rounds_,
                     "time every model in this many rounds, --runs split between them, and pool the runs (a machine "
                     "whose speed drifts then slows every model alike)")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    onnx_->add_option("--json", json_out_, "write the rows as JSON here");
    onnx_
        ->add_option("--runtime", runtimes_,
                     "engines that run the files: ort (ONNX Runtime), onednn (compress/runtime), e.g. ort,onednn")
        ->delimiter(',')
        ->capture_default_str();
    onnx_->add_flag("--profile", profile_,
                    "also print the kernel time per op type (ONNX Runtime's profiler) or kernel kind (the oneDNN "
                    "runtime's clock); profiled runs are a little slower, so the latency table then compares "
                    "profiled runs");
  }
  CLI::App* app() const override { return app_; }
  int run() override {
    if (train_->parsed()) return run_train();
    if (onnx_->parsed()) return run_onnx();
    if (model_->parsed()) return run_model();
    if (reader_ != "TrainReader" && reader_ != "EvalReader")
      fail("--reader: expected TrainReader or EvalReader, got '", reader_, "'");
    const Config cfg = flags_.load();
    auto ds = load_dataset(cfg, reader_);
    auto loader = make_loader(cfg, reader_, ds);
    const int64_t per_epoch = loader->batches_per_epoch();
    if (per_epoch == 0) fail("the dataset has fewer images than one batch");
    int64_t epoch = 0, images = 0, timed = 0;
    loader->start_epoch(epoch);
    auto next = [&]() {
      auto b = loader->next();
      if (!b) {
        loader->start_epoch(++epoch);
        b = loader->next();
      }
      return *b;
    };
    for (int i = 0; i < 3; ++i) next();  // warm-up: threads started, caches filled
    const auto t0 = std::chrono::steady_clock::now();
    for (; timed < batches_; ++timed) images += next().size();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double ips = images / s;
    const int workers = cfg.get<int>(reader_ + ".worker_num");
    std::cout << "| reader | workers | batch | images | seconds | images/s |\n|---|---|---|---|---|---|\n"
              << "| " << reader_ << " | " << workers << " | " << cfg.get<int>(reader_ + ".batch_size") << " | "
              << images << " | " << s << " | " << ips << " |\n";
    if (!json_out_.empty())
      write_file_atomic(
          json_out_,
          nlohmann::json{
              {"reader", reader_}, {"workers", workers}, {"images", images}, {"seconds", s}, {"images_per_s", ips}}
              .dump(1));
    return 0;
  }

 private:
  // One real batch from TrainReader, reused for every step, so that only the model
  // is timed. With --quant, the float model and its QAT form step alternately
  // (side by side, same batch, same moment) and the ratio of medians is printed.
  int run_train() {
    const Config cfg = train_flags_.load();
    torch::manual_seed(static_cast<uint64_t>(cfg.get<int64_t>("seed")));
    auto ds = load_dataset(cfg, "TrainReader");
    auto loader = make_loader(cfg, "TrainReader", ds);
    loader->start_epoch(0);
    const auto batch = loader->next();
    if (!batch) fail("TrainReader yields no batch");
    loader.reset();  // stop the prefetching workers: they would compete with the timed steps
    Batch b = *batch;
    if (train_input_ > 0) {
      // Boxes are xyxy in input pixels (zero rows for padding stay zero).
      const double sy = double(train_input_) / b.images.size(2), sx = double(train_input_) / b.images.size(3);
      namespace F = torch::nn::functional;
      b.images = F::interpolate(b.images, F::InterpolateFuncOptions()
                                              .size(std::vector<int64_t>{train_input_, train_input_})
                                              .mode(torch::kBilinear)
                                              .align_corners(false));
      b.boxes = b.boxes * torch::tensor({sx, sy, sx, sy}, torch::kFloat32).view({1, 1, 4});
    } else if (train_input_ < 0) {
      fail("bench train: --input must be positive, got ", train_input_);
    }
    if (random_images_) b.images = torch::randn(b.images.sizes());

    struct Timed {
      std::string name;
      Detector model;
      OptimizerBundle opt;
      std::vector<double> ms, fwd, lss, bwd;
    };
    std::string name = cfg.get<std::string>("architecture") + "-";
    name += cfg.get<std::string>("architecture") == "YOLOv3" && cfg.get<std::string>("YOLOv3.backbone") == "ResNet"
                ? "ResNet" + std::to_string(cfg.get<int64_t>("ResNet.depth"))
                : "MobileNetV3-" + cfg.get<std::string>("MobileNetV3.model_name");
    std::vector<Timed> models;
    models.push_back({name, build_detector(cfg), {}, {}, {}, {}, {}});
    if (quant_) {
      auto q = build_detector(cfg);
      quant::QuantOptions qo = quant::quant_options_from_config(cfg);
      if (train_->count("--not_quant_pattern")) qo.not_quant_pattern = patterns_;
      const auto report = quant::apply_qat(*q, qo);
      spdlog::info("QAT model: {} convs quantized, {} float", report.quantized.size(), report.skipped.size());
      models.push_back({name + " QAT", q, {}, {}, {}, {}, {}});
    }
    for (auto& m : models) {
      m.model->train();
      m.opt = make_optimizer(*m.model, cfg);
      m.opt.set_lr(1e-4);
    }
    std::cout << "| model | input | batch | threads | median step (ms) | images/s |\n|---|---|---|---|---|---|\n";
    nlohmann::json rows = nlohmann::json::array();
    auto since = [](auto t) {
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
    };
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    for (int t : threads_) {
      torch::set_num_threads(t);
      for (auto& m : models) m.ms.clear(), m.fwd.clear(), m.lss.clear(), m.bwd.clear();
      for (int i = 0; i < warmup_ + steps_; ++i)
        for (auto& m : models) {
          const auto t0 = std::chrono::steady_clock::now();
          m.opt.optimizer->zero_grad();
          const auto out = m.model->forward(b.images);
          const double t_fwd = since(t0);
          const auto loss = m.model->loss(out, b).total;
          const double t_loss = since(t0);
          loss.backward();
          const double t_bwd = since(t0);
          m.opt.optimizer->step();
          const double dt = since(t0);
          if (i >= warmup_)
            m.ms.push_back(dt), m.fwd.push_back(t_fwd), m.lss.push_back(t_loss - t_fwd),
                m.bwd.push_back(t_bwd - t_loss);
        }
      for (auto& m : models) {
        spdlog::info("{}, threads {}: forward {:.1f} ms, loss {:.1f} ms, backward {:.1f} ms (medians)", m.name, t,
                     median(m.fwd), median(m.lss), median(m.bwd));
        const double med = median(m.ms);
        const double ips = batch->size() * 1000.0 / med;
        std::cout << "| " << m.name << " | " << b.images.size(2) << " | " << batch->size() << " | " << t << " | " << med
                  << " | " << ips << " |\n";
        rows.push_back({{"model", m.name},
                        {"input", b.images.size(2)},
                        {"batch", batch->size()},
                        {"threads", t},
                        {"median_step_ms", med},
                        {"images_per_s", ips}});
      }
      if (models.size() == 2)
        std::cout << "threads " << t << ": QAT / float step = " << median(models[1].ms) / median(models[0].ms) << "\n";
    }
    if (!json_out_.empty()) write_file_atomic(json_out_, rows.dump(1));
    return 0;
  }

  // Interleaved per thread count: every model in ORT, then in LibTorch.
  int run_onnx() {
    if (!onnx_weights_.empty() && onnx_weights_.size() != onnx_files_.size())
      fail("bench onnx: ", onnx_weights_.size(), " --weights for ", onnx_files_.size(), " --onnx files");
    if (!onnx_weights_.empty() && onnx_flags_.config.empty()) fail("bench onnx: --weights needs -c CONFIG");
    std::vector<Detector> models;
    if (!onnx_weights_.empty()) {
      const Config cfg = onnx_flags_.load();
      for (const auto& w : onnx_weights_) models.push_back(load_detector(cfg, w));
    }
    for (const auto& r : runtimes_) check_runtime_name(r, "bench onnx --runtime");
    // Each round times every model with its share of the runs; the rounds' runs are pooled.
    std::vector<std::vector<LatencyRow>> rounds(rounds_);
    for (int k = 0; k < rounds_; ++k) {
      const int runs = (runs_ + rounds_ - 1) / rounds_;
      const bool profile = profile_ && k == 0;
      auto& rows = rounds[k];
      for (int t : threads_) {
        for (const auto& r : runtimes_)
          for (const auto& f : onnx_files_)
            rows.push_back(r == "ort" ? time_onnxruntime(f, t, runs, warmup_, profile)
                                      : time_onednn(f, t, runs, warmup_, profile));
        for (size_t i = 0; i < models.size(); ++i) {
          const auto dims = onnx_export::read_input_dims(onnx_files_[i]);
          rows.push_back(time_libtorch(*models[i], onnx_files_[i], dims[2], dims[3], t, runs, warmup_));
        }
      }
      if (rounds_ > 1) std::cerr << "bench onnx: round " << k + 1 << " of " << rounds_ << " done\n";
    }
    const auto rows = merge_rounds(rounds);
    std::cout << latency_table(rows);
    if (profile_)
      std::cout << "\nKernel time per run, by op type (ONNX Runtime's profiler) or kernel kind (the oneDNN runtime's "
                   "own clock):\n\n"
                << profile_table(rows);
    if (!json_out_.empty()) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& r : rows) {
        nlohmann::json row{{"model", r.model}, {"engine", r.engine},       {"threads", r.threads},
                           {"input", r.input}, {"median_ms", r.median_ms}, {"runs", r.runs}};
        for (const auto& t : r.profile) row["profile"].push_back({{"op", t.op}, {"ms", t.ms}, {"nodes", t.nodes}});
        if (r.peak_rss_mib > 0) {
          row["load_ms"] = r.load_ms;
          row["rss_before_mib"] = r.rss_before_mib;
          row["peak_rss_mib"] = r.peak_rss_mib;
          row["peak_added_mib"] = r.added_mib();
        }
        j.push_back(row);
      }
      write_file_atomic(json_out_, j.dump(1));
    }
    return 0;
  }

  int run_model() {
    const Config cfg = model_flags_.load();
    const int64_t size = eval_input_size(cfg, input_, "bench");
    auto model = build_detector(cfg);
    // The reference's count (compress/prune/flops.h): conv and fully connected
    // multiply-adds, no bias, a box head's rows counted once.
    const prune::ModelFlops c = prune::model_flops(*model, size);
    std::map<std::string, std::pair<int64_t, int64_t>> parts;  // top-level module -> (params, macs)
    for (const auto& p : model->named_parameters())
      parts[p.key().substr(0, p.key().find('.'))].first += p.value().numel();
    for (const auto& l : c.layers) parts[l.module.substr(0, l.module.find('.'))].second += l.flops;
    std::cout << "| part | params (M) | multiply-adds (M) at " << size << "x" << size << " |\n|---|---|---|\n";
    for (const auto& [name, v] : parts)
      std::cout << "| " << name << " | " << v.first / 1e6 << " | " << v.second / 1e6 << " |\n";
    std::cout << "| total | " << c.params / 1e6 << " | " << c.flops / 1e6 << " |\n";
    if (!json_out_.empty())
      write_file_atomic(json_out_, nlohmann::json{{"input", size}, {"params", c.params}, {"macs", c.flops}}.dump(1));
    return 0;
  }

  CLI::App* app_;
  CLI::App* data_;
  CLI::App* train_;
  CLI::App* model_;
  CLI::App* onnx_;
  ConfigFlags flags_, train_flags_, model_flags_, onnx_flags_;
  std::vector<std::string> onnx_files_, onnx_weights_;
  std::vector<std::string> runtimes_ = {"ort"};
  int runs_ = 20;
  int64_t input_ = 0;
  int64_t train_input_ = 0;
  bool profile_ = false;
  int rounds_ = 1;
  bool random_images_ = false, quant_ = false;
  std::vector<std::string> patterns_;
  std::vector<int> threads_ = {1, 2};
  int steps_ = 10, warmup_ = 3;
  std::string reader_ = "TrainReader", json_out_;
  int batches_ = 50;
};

}  // namespace

std::unique_ptr<Command> make_bench_command(CLI::App& parent) { return std::make_unique<BenchCommand>(parent); }

}  // namespace compress
