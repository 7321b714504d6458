// End to end through the CLI on the fashion YOLOv3 recipes (student and
// teacher), shrunk to seconds: train with --eval and random shapes, eval -c -w, infer.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/train_fixture.h"

namespace fs = std::filesystem;

TEST(E2E, FashionYolov3Recipes) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  for (const std::string recipe : {"yolov3_mobilenet_v3", "yolov3_r34"}) {
    testutil::write_text(d.file(recipe + ".yml"), "_BASE_: [" +
                                                      testutil::source_path("configs/fashion/" + recipe + ".yml") +
                                                      "]\n"
                                                      "max_iters: 4\nsnapshot_iter: 2\nlog_iter: 2\nsave_dir: " +
                                                      d.file("out") +
                                                      "\n"
                                                      "MobileNetV3: {model_name: small, scale: 0.5}\n");
    std::string o;
    for (const auto& s : testutil::tiny_yolo_overrides(d, 64))
      if (s.rfind("save_dir", 0) != 0 && s.rfind("log_iter", 0) != 0 && s.rfind("MobileNetV3", 0) != 0 &&
          s.rfind("TrainReader.batch_transforms", 0) != 0)
        o += " -o '" + s + "'";
    o += " -o 'TrainReader.batch_transforms=[{type: RandomShape, sizes: [64, 96]}]'";
    const std::string cfg = d.file(recipe + ".yml");
    auto r = testutil::run_cli("train -c " + cfg + " --eval" + o);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("obj"), std::string::npos) << r.output;  // YOLOv3 loss terms in the progress line
    const fs::path run = fs::path(d.file("out")) / recipe;
    for (const char* f : {"model_final.pt", "latest.pt", "best_model.pt", "metrics.jsonl"})
      EXPECT_TRUE(fs::exists(run / f)) << recipe << " " << f;

    r = testutil::run_cli("eval -c " + cfg + o + " -w " + (run / "model_final.pt").string() + " --out " +
                          d.file(recipe + "_stats.json"));
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(nlohmann::json::parse(testutil::read_text(d.file(recipe + "_stats.json"))).size(), 12u);

    r = testutil::run_cli("infer -c " + cfg + o + " -w " + (run / "model_final.pt").string() + " --image " +
                          d.file("train/000001.jpg") + " --out " + d.file(recipe + ".png") + " --draw-threshold 0.0");
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_GT(fs::file_size(d.file(recipe + ".png")), 1000u);
  }
  // The student's checkpoint is not the teacher's: loading one as the other names a tensor.
  auto r = testutil::run_cli("eval -c " + d.file("yolov3_r34.yml") + " -w " +
                             (fs::path(d.file("out")) / "yolov3_mobilenet_v3" / "model_final.pt").string() +
                             " -o 'TrainReader.dataset.dataset_dir=" + d.path().string() + "'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("backbone."), std::string::npos) << r.output;
}
