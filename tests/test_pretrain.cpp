// Backbone pretraining on Fashion-MNIST item crops (`compress pretrain`): the
// crops, their normalization, loading the backbone into each detector, resuming,
// and the CLI from pretraining to a detector's training.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <opencv2/imgproc.hpp>

#include "tests/test_util.h"
#include "tests/train_fixture.h"
#include "train/config/config.h"
#include "train/data/fashion_items.h"
#include "train/engine/checkpoint.h"
#include "train/engine/pretrain.h"
#include "train/models/backbone_classifier.h"
#include "train/models/detector.h"
#include "train/util/error.h"
#include "train/util/rng.h"

namespace {

using namespace compress;
using testutil::TempDir;

// Two synthetic 28x28 items: 0 is a solid square, 1 is empty.
FashionItems square_and_empty() {
  FashionItems f;
  f.images.count = 2, f.images.rows = 28, f.images.cols = 28;
  f.images.pixels.assign(2 * 28 * 28, 0);
  std::fill(f.images.pixels.begin(), f.images.pixels.begin() + 28 * 28, 255);
  f.labels = {3, 7};
  return f;
}

TEST(Pretrain, CropIsTheItemOnABackgroundAtTheAskedScale) {
  const FashionItems f = square_and_empty();
  ItemCropOptions o;
  o.size = 64, o.scale_lo = 0.5, o.scale_hi = 0.5;
  for (uint64_t seed : {1, 2, 3}) {
    // Both crops draw the same background, size and place from the seed; the
    // empty item paints nothing, so the difference is exactly the square.
    const cv::Mat with = render_item_crop(f, 0, o, seed), without = render_item_crop(f, 1, o, seed);
    ASSERT_EQ(with.size(), cv::Size(64, 64));
    ASSERT_EQ(with.type(), CV_8UC3);
    EXPECT_EQ(cv::norm(with, render_item_crop(f, 0, o, seed), cv::NORM_INF), 0) << "same seed, same pixels";
    cv::Mat diff;
    cv::absdiff(with, without, diff);
    cv::cvtColor(diff, diff, cv::COLOR_BGR2GRAY);
    const cv::Rect r = cv::boundingRect(diff > 0);
    // Side 32 px at aspect 0.8-1.25: w, h in 32 * [0.894, 1.118].
    EXPECT_GE(r.width, 28);
    EXPECT_LE(r.width, 36);
    EXPECT_GE(r.height, 28);
    EXPECT_LE(r.height, 36);
    EXPECT_GT(cv::countNonZero(diff > 0), 0.9 * r.area()) << "the square is solid";
  }
  EXPECT_GT(cv::norm(render_item_crop(f, 0, o, 1), render_item_crop(f, 0, o, 2), cv::NORM_INF), 0);
  o.scale_lo = 0;
  EXPECT_THROW(render_item_crop(f, 0, o, 1), Error);
  o.scale_lo = 0.5;
  EXPECT_THROW(render_item_crop(f, 2, o, 1), Error);
}

TEST(Pretrain, BatchIsRgbNormalizedLikeTheReader) {
  const FashionItems f = square_and_empty();
  ItemCropOptions o;
  o.size = 32;
  Normalization n;
  n.mean = {0.485f, 0.456f, 0.406f}, n.std = {0.229f, 0.224f, 0.225f}, n.is_scale = true;
  const auto x = item_batch(f, {0, 1}, o, n, 9);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
  for (int k = 0; k < 2; ++k) {
    const cv::Mat bgr = render_item_crop(f, k, o, mix_seed(9, k));
    for (auto [y, xx] : {std::pair{0, 0}, std::pair{16, 16}, std::pair{31, 5}}) {
      const cv::Vec3b p = bgr.at<cv::Vec3b>(y, xx);
      for (int c = 0; c < 3; ++c) {  // channel c is RGB: BGR index 2 - c
        const double want = (p[2 - c] / 255.0 - n.mean[c]) / n.std[c];
        EXPECT_NEAR(x[k][c][y][xx].item<double>(), want, 1e-5);
      }
    }
  }
}

const char* kTinyRecipe = R"(
architecture: YOLOv3
num_classes: 10
MobileNetV3: {model_name: small, scale: 0.5, lr_mult_list: [1.0]}
OptimizerBuilder: {optimizer: {type: Adam}, regularizer: {type: none, factor: 0.0}}
LearningRate: {base_lr: 0.002}
log_iter: 2
pretrain: {image_size: 32, batch_size: 8, max_iters: 6, eval_items: 16, snapshot_iter: 3}
)";

// Every `backbone.*` tensor of `a` equals the one of the same name in `b`.
int64_t count_equal_backbone(const torch::nn::Module& a, const torch::nn::Module& b) {
  int64_t n = 0;
  auto pb = b.named_parameters();
  auto bb = b.named_buffers();
  for (const auto& dict : {a.named_parameters(), a.named_buffers()})
    for (const auto& item : dict) {
      if (item.key().rfind("backbone.", 0) != 0) continue;
      const torch::Tensor* other = pb.find(item.key());
      if (!other) other = bb.find(item.key());
      if (!other) continue;
      EXPECT_TRUE(torch::equal(item.value(), *other)) << item.key();
      ++n;
    }
  return n;
}

TEST(Pretrain, BackboneLoadsIntoEachDetectorByName) {
  TempDir dir;
  torch::manual_seed(0);
  for (const std::string arch : {"YOLOv3", "SSD", "CascadeRCNN"}) {
    SCOPED_TRACE(arch);
    std::vector<std::string> ov = {"architecture=" + arch};
    if (arch == "SSD") ov.push_back("MobileNetV3.extra_block_filters=[[16, 32], [16, 32], [16, 32], [16, 32]]");
    if (arch == "CascadeRCNN") ov.push_back("MobileNetV3.feature_maps=[2, 3, 4]");
    const Config cfg = config_from_string(kTinyRecipe, ov);
    BackboneClassifier cls(backbone_spec_from_config(cfg), 10);
    for (auto& p : cls->parameters()) torch::NoGradGuard(), p.data().uniform_(-1, 1);  // unlike any init
    TrainState st;
    st.arch = kBackboneClassifierArch;
    const std::string path = dir.file(arch + ".pt");
    save_checkpoint(path, *cls, nullptr, st);

    Detector det = build_detector(cfg);
    std::vector<torch::Tensor> heads;  // everything outside the backbone, before loading
    for (const auto& p : det->named_parameters())
      if (p.key().rfind("backbone.", 0) != 0) heads.push_back(p.value().clone());
    const BackboneLoad r = load_backbone_weights(path, *det);
    EXPECT_EQ(r.unused, 0);
    int64_t backbone_tensors = 0;
    for (const auto& dict : {det->named_parameters(), det->named_buffers()})
      for (const auto& item : dict) backbone_tensors += item.key().rfind("backbone.", 0) == 0;
    EXPECT_EQ(r.loaded, backbone_tensors);
    EXPECT_EQ(count_equal_backbone(*det, *cls), backbone_tensors);
    size_t k = 0;
    for (const auto& p : det->named_parameters())
      if (p.key().rfind("backbone.", 0) != 0) EXPECT_TRUE(torch::equal(p.value(), heads[k++])) << p.key();

    // A detector checkpoint is not a backbone, and a backbone is not a detector.
    EXPECT_THROW(load_weights(path, *det), Error);
    try {
      load_weights(path, *det);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("compress pretrain"), std::string::npos) << e.what();
    }
  }
  // The full backbone (YOLOv3's) into Cascade R-CNN's, which stops at stride 16:
  // the deeper units and conv_last go unused.
  Detector cascade = build_detector(
      config_from_string(kTinyRecipe, {"architecture=CascadeRCNN", "MobileNetV3.feature_maps=[2, 3, 4]"}));
  const BackboneLoad r = load_backbone_weights(dir.file("YOLOv3.pt"), *cascade);
  EXPECT_GT(r.unused, 0);
  EXPECT_GT(r.loaded, 0);
  // Another width: the error names the tensor and both shapes.
  Detector wide = build_detector(config_from_string(kTinyRecipe, {"MobileNetV3.scale=1.0"}));
  try {
    load_backbone_weights(dir.file("YOLOv3.pt"), *wide);
    ADD_FAILURE() << "a backbone of another scale loaded";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("backbone.conv1.conv.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("scale"), std::string::npos) << m;
  }
  // A detector's checkpoint is refused as a backbone.
  TrainState det_state;
  det_state.arch = "YOLOv3";
  save_checkpoint(dir.file("det.pt"), *wide, nullptr, det_state);
  EXPECT_THROW(load_backbone_weights(dir.file("det.pt"), *wide), Error);
}

TEST(Pretrain, ResumedRunEqualsTheUninterruptedOne) {
  TempDir dir;
  auto run = [&](const std::string& sub, int64_t stop_at, const std::string& resume) {
    torch::manual_seed(3);
    PretrainOptions o;
    o.run_dir = dir.file(sub), o.stop_at = stop_at, o.resume = resume;
    return run_pretrain(config_from_string(kTinyRecipe, {"threads=1"}), o);
  };
  const PretrainResult whole = run("whole", -1, "");
  EXPECT_EQ(whole.iters, 6);
  EXPECT_GE(whole.top1, 0.0);
  EXPECT_TRUE(std::filesystem::exists(dir.file("whole/crops.png")));
  run("cut", 4, "");       // dies after step 4; its last snapshot is step 3
  torch::manual_seed(99);  // a resumed process starts from other weights and RNG
  const PretrainResult resumed = run("cut", -1, dir.file("cut/latest.pt"));
  EXPECT_EQ(resumed.iters, 6);
  const Config cfg = config_from_string(kTinyRecipe);
  BackboneClassifier a(backbone_spec_from_config(cfg), 10), b(backbone_spec_from_config(cfg), 10);
  load_weights(dir.file("whole/model_final.pt"), *a);
  load_weights(dir.file("cut/model_final.pt"), *b);
  auto pa = a->named_parameters();
  for (const auto& p : b->named_parameters())
    EXPECT_TRUE(torch::allclose(p.value(), pa[p.key()], 1e-6, 1e-7)) << p.key();
  EXPECT_NEAR(resumed.top1, whole.top1, 1e-9);
}

// The CLI from pretraining to a detector: `compress pretrain` learns the classes
// (a ResNet18 backbone: MobileNetV3 from scratch stays at chance for the first few
// hundred steps, in this code and in an independent python3-torch copy alike),
// `compress train` starts YOLOv3 from it, and misuse is a one-line error.
TEST(Pretrain, CliPretrainsThenTrainsADetectorFromTheBackbone) {
  TempDir dir;
  testutil::make_tiny_fashion(dir, 8, 96);
  std::string common;
  for (const auto& o : testutil::tiny_yolo_overrides(dir, 64)) common += " -o '" + o + "'";
  const std::string recipe = dir.file("tiny.yml");
  testutil::write_text(recipe,
                       "OptimizerBuilder: {optimizer: {type: Adam}, regularizer: {type: none, factor: 0.0}}\n"
                       "LearningRate: {base_lr: 0.002}\nthreads: 1\n"
                       "YOLOv3: {backbone: ResNet}\nResNet: {depth: 18}\n"
                       "pretrain: {image_size: 32, batch_size: 32, max_iters: 200, eval_items: 500, "
                       "item_scale: [0.6, 1.0]}\n");
  const auto pre = testutil::run_cli("pretrain -c " + recipe + common + " -o log_iter=100");
  ASSERT_EQ(pre.code, 0) << pre.output;
  const std::string backbone = dir.file("out/tiny_backbone/model_final.pt");
  ASSERT_TRUE(std::filesystem::exists(backbone)) << pre.output;
  // top-1 on 500 t10k items, from the last eval record (chance: 0.1).
  const std::string metrics = testutil::read_text(dir.file("out/tiny_backbone/metrics.jsonl"));
  const auto at = metrics.rfind("\"top1\":");
  ASSERT_NE(at, std::string::npos) << metrics;
  const double top1 = std::stod(metrics.substr(at + 7));
  EXPECT_GT(top1, 0.2) << pre.output;
  EXPECT_NE(pre.output.find("ETA"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir.file("out/tiny_backbone/crops.png")));
  const auto plot = testutil::run_cli("plot " + dir.file("out/tiny_backbone"));
  EXPECT_EQ(plot.code, 0) << plot.output;
  EXPECT_TRUE(std::filesystem::exists(dir.file("out/tiny_backbone/curves.png")));

  const auto train =
      testutil::run_cli("train -c " + recipe + common + " -o max_iters=2 -o pretrain_weights=" + backbone);
  ASSERT_EQ(train.code, 0) << train.output;
  EXPECT_NE(train.output.find("backbone initialised from"), std::string::npos) << train.output;

  // A backbone is not a detector to quantize; a detector run is not a pretrain run to resume.
  const auto quant = testutil::run_cli("quant -c " + recipe + common + " -o pretrain_weights=" + backbone);
  EXPECT_EQ(quant.code, 1) << quant.output;
  EXPECT_NE(quant.output.find("compress train -c RECIPE -o pretrain_weights=" + backbone), std::string::npos)
      << quant.output;
  const auto resume =
      testutil::run_cli("pretrain -c " + recipe + common + " -r " + dir.file("out/tiny/model_final.pt"));
  EXPECT_EQ(resume.code, 1) << resume.output;
  EXPECT_NE(resume.output.find("not a `compress pretrain` checkpoint"), std::string::npos) << resume.output;
  setenv("WORLD_SIZE", "2", 1);  // as torchrun would launch it
  setenv("RANK", "0", 1);
  const auto ranks = testutil::run_cli("pretrain -c " + recipe + common);
  unsetenv("WORLD_SIZE");
  unsetenv("RANK");
  EXPECT_EQ(ranks.code, 1) << ranks.output;
  EXPECT_NE(ranks.output.find("pretrain runs in one process, but WORLD_SIZE is 2"), std::string::npos) << ranks.output;
  // Bad settings name the file and the field.
  const auto bad = testutil::run_cli("pretrain -c " + recipe + common + " -o pretrain.item_scale=[0.5]");
  EXPECT_EQ(bad.code, 1) << bad.output;
  EXPECT_NE(bad.output.find(recipe), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("pretrain.item_scale"), std::string::npos) << bad.output;
}

}  // namespace
