// End to end through the CLI on the fashion Cascade R-CNN recipe, shrunk to
// seconds: train with --eval, resume, eval -c -w, infer, export --verify, and
// infer beside the export.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "tests/train_fixture.h"
#include "train/util/panels.h"

namespace fs = std::filesystem;

TEST(E2E, FashionCascadeRcnnRecipe) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  const std::string recipe = "cascade_rcnn_mobilenet_v3_large_fpn";
  testutil::write_text(d.file(recipe + ".yml"), "_BASE_: [" +
                                                    testutil::source_path("configs/fashion/" + recipe + ".yml") +
                                                    "]\n"
                                                    "max_iters: 4\nsnapshot_iter: 2\nlog_iter: 2\nsave_dir: " +
                                                    d.file("out") + "\n");
  std::string o;
  for (const auto& s : testutil::tiny_cascade_overrides(d, 64))
    if (s.rfind("save_dir", 0) != 0 && s.rfind("log_iter", 0) != 0) o += " -o '" + s + "'";
  const std::string cfg = d.file(recipe + ".yml");
  auto r = testutil::run_cli("train -c " + cfg + " --eval" + o);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* term : {"rpn_cls", "cls2", "bbox2"}) EXPECT_NE(r.output.find(term), std::string::npos) << term;
  const fs::path run = fs::path(d.file("out")) / recipe;
  for (const char* f : {"model_final.pt", "latest.pt", "best_model.pt", "metrics.jsonl"})
    EXPECT_TRUE(fs::exists(run / f)) << f;

  // A finished run resumed with more iterations continues from iteration 4.
  r = testutil::run_cli("train -c " + cfg + o + " -o max_iters=6 -r " + (run / "latest.pt").string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("iter 6/6"), std::string::npos) << r.output;

  r = testutil::run_cli("eval -c " + cfg + o + " -w " + (run / "model_final.pt").string() + " --out " +
                        d.file("stats.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(testutil::read_text(d.file("stats.json"))).size(), 12u);

  r = testutil::run_cli("infer -c " + cfg + o + " -w " + (run / "model_final.pt").string() + " --image " +
                        d.file("train/000001.jpg") + " --out " + d.file("det.png") + " --draw-threshold 0.0");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_GT(fs::file_size(d.file("det.png")), 1000u);

  // Export: the whole model in one ONNX graph, verified in ONNX Runtime.
  r = testutil::run_cli("export -c " + cfg + o + " -w " + (run / "model_final.pt").string() +
                        " --format onnx --output " + d.file("c.onnx") + " --verify --verify-images 4");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("proposals boxes scores"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("verified in ONNX Runtime: float within 1e-4"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(d.file("c.onnx")));

  // The checkpoint beside its export (decoded from ONNX Runtime's own boxes
  // and scores): two 96 px columns with a 2 px gutter under title bars.
  r = testutil::run_cli("infer -c " + cfg + o + " -w " + (run / "model_final.pt").string() + " --onnx " +
                        d.file("c.onnx") + " --image " + d.file("train/000001.jpg") + " --out " + d.file("cmp.png") +
                        " --draw-threshold 0.0");
  ASSERT_EQ(r.code, 0) << r.output;
  const cv::Mat cmp = cv::imread(d.file("cmp.png"));
  EXPECT_EQ(cmp.cols, 2 * 96 + 2);
  EXPECT_EQ(cmp.rows, compress::kTitleBar + 96);
  EXPECT_NE(r.output.find("c.onnx (ONNX Runtime): "), std::string::npos) << r.output;
}
