// The training loop: overfitting 4 images, checkpoints, exact resume, bad checkpoints.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/overfit_fixture.h"
#include "tests/train_fixture.h"
#include "train/data/reader.h"
#include "train/engine/checkpoint.h"
#include "train/engine/evaluate.h"
#include "train/engine/runtime.h"
#include "train/engine/trainer.h"
#include "train/util/error.h"

using namespace compress;
namespace fs = std::filesystem;

namespace {

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

Config tiny(const testutil::TempDir& d, std::vector<std::string> extra, int size = 128) {
  auto o = testutil::tiny_ssd_overrides(d, size);
  o.insert(o.end(), extra.begin(), extra.end());
  return config_from_string("", o);
}

void expect_same_weights(const torch::nn::Module& a, const torch::nn::Module& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  const auto ba = a.named_buffers(), bb = b.named_buffers();
  for (const auto& p : ba) EXPECT_TRUE(torch::equal(p.value(), bb[p.key()])) << p.key();
}

}  // namespace

TEST(Train, OverfitsFourImages) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 4, 128, /*seed=*/11);
  const Config cfg =
      tiny(d, {"max_iters=300", "snapshot_iter=1000", "OptimizerBuilder.optimizer.type=Adam",
               "OptimizerBuilder.regularizer.type=none", "LearningRate.base_lr=0.003",
               "LearningRate.schedulers=[{type: CosineDecay}, {type: LinearWarmup, start_factor: 0.1, steps: 20}]",
               "TrainReader.worker_num=1", "seed=1"});
  const auto r = testutil::overfit(cfg, d);
  ASSERT_GE(r.logged, 2u);
  EXPECT_LT(r.last_loss * 10, r.first_loss) << "loss " << r.first_loss << " -> " << r.last_loss;
  EXPECT_GT(r.ap50, 0.9) << r.table;
}

TEST(Checkpoint, ResumeGivesTheUninterruptedWeights) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 64);
  // The schedule is fixed (cosine over 6 iterations) so that a run stopped at 3 is
  // exactly the first half of the 6-iteration run.
  const std::vector<std::string> common = {"threads=1",
                                           "TrainReader.worker_num=2",
                                           "snapshot_iter=3",
                                           "LearningRate.base_lr=0.01",
                                           "LearningRate.schedulers=[{type: CosineDecay, max_iters: 6}]",
                                           "TrainReader.batch_size=3",
                                           "TrainReader.shuffle=true"};
  auto cfg_for = [&](int iters) {
    auto o = common;
    o.push_back("max_iters=" + std::to_string(iters));
    return tiny(d, o, 64);
  };
  apply_runtime_settings(cfg_for(6));
  auto full = build_detector(cfg_for(6));
  {
    TrainOptions o;
    o.run_dir = d.file("full");
    Trainer(cfg_for(6), full, o).train();
  }
  {
    torch::manual_seed(0);
    TrainOptions o;
    o.run_dir = d.file("killed");
    Trainer(cfg_for(3), build_detector(cfg_for(3)), o).train();
  }
  auto resumed = build_detector(cfg_for(6));
  {
    TrainOptions o;
    o.run_dir = d.file("resumed");
    o.resume = d.file("killed/latest.pt");
    const auto state = Trainer(cfg_for(6), resumed, o).train();
    EXPECT_EQ(state.iter, 6);
  }
  expect_same_weights(*full, *resumed);
  // And the saved final checkpoint holds the same weights.
  auto reloaded = build_detector(cfg_for(6));
  const auto st = load_weights(d.file("resumed/model_final.pt"), *reloaded);
  EXPECT_EQ(st.iter, 6);
  expect_same_weights(*resumed, *reloaded);
}

TEST(Checkpoint, OtherArchitectureNamesTheFirstMismatchedTensor) {
  testutil::TempDir d;
  auto ten = build_detector(config_from_string("", {"num_classes=10", "MobileNetV3.model_name=small"}));
  save_checkpoint(d.file("ten.pt"), *ten, nullptr, {});
  auto five = build_detector(config_from_string("", {"num_classes=5", "MobileNetV3.model_name=small"}));
  try {
    load_weights(d.file("ten.pt"), *five);
    FAIL() << "expected a shape mismatch";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("conf.0.pw.conv.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[44, 288, 1, 1]"), std::string::npos) << msg;  // 4 priors x (10 + 1)
    EXPECT_NE(msg.find("[24, 288, 1, 1]"), std::string::npos) << msg;  // 4 priors x (5 + 1)
  }
  auto large = build_detector(config_from_string("", {"num_classes=10", "MobileNetV3.model_name=large"}));
  EXPECT_THROW(load_weights(d.file("ten.pt"), *large), Error);
}

TEST(Checkpoint, TruncatedFileIsAClearError) {
  testutil::TempDir d;
  auto m = build_detector(config_from_string("", {"num_classes=3", "MobileNetV3.model_name=small"}));
  save_checkpoint(d.file("m.pt"), *m, nullptr, {});
  const auto size = fs::file_size(d.file("m.pt"));
  fs::resize_file(d.file("m.pt"), size / 2);
  try {
    load_weights(d.file("m.pt"), *m);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("m.pt"), std::string::npos) << e.what();
  }
  testutil::write_text(d.file("junk.pt"), "not a checkpoint");
  EXPECT_THROW(load_weights(d.file("junk.pt"), *m), Error);
  EXPECT_THROW(load_weights(d.file("absent.pt"), *m), Error);
}

TEST(Checkpoint, SaveLoadRoundTrip) {
  testutil::TempDir d;
  auto a = build_detector(config_from_string("", {"num_classes=3", "MobileNetV3.model_name=small"}));
  auto b = build_detector(config_from_string("", {"num_classes=3", "MobileNetV3.model_name=small"}));
  {
    torch::NoGradGuard g;
    for (auto& p : a->parameters()) p.normal_();
  }
  TrainState s;
  s.iter = 42;
  s.best_ap = 0.25;
  s.config_yaml = "max_iters: 42\n";
  save_checkpoint(d.file("a.pt"), *a, nullptr, s);
  EXPECT_FALSE(fs::exists(d.file("a.pt.tmp")));
  const auto back = load_weights(d.file("a.pt"), *b);
  expect_same_weights(*a, *b);
  EXPECT_EQ(back.iter, 42);
  EXPECT_DOUBLE_EQ(back.best_ap, 0.25);
  EXPECT_EQ(back.config_yaml, "max_iters: 42\n");
}
