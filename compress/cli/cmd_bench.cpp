// `compress bench data -c CONFIG`: data pipeline throughput (images/s).
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "compress/cli/command.h"
#include "train/config/config.h"
#include "train/data/coco_json.h"
#include "train/data/reader.h"
#include "train/util/error.h"

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
    data_->add_option("--batches", batches_, "timed batches (after 3 warm-up batches)")->capture_default_str();
    data_->add_option("--json", json_out_, "write the figures as JSON here");
  }
  CLI::App* app() const override { return app_; }
  int run() override {
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
      write_file_atomic(json_out_, nlohmann::json{{"reader", reader_},
                                                  {"workers", workers},
                                                  {"images", images},
                                                  {"seconds", s},
                                                  {"images_per_s", ips}}
                                       .dump(1));
    return 0;
  }

 private:
  CLI::App* app_;
  CLI::App* data_;
  ConfigFlags flags_;
  std::string reader_ = "TrainReader", json_out_;
  int batches_ = 50;
};

}  // namespace

std::unique_ptr<Command> make_bench_command(CLI::App& parent) { return std::make_unique<BenchCommand>(parent); }

}  // namespace compress
