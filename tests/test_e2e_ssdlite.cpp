// End to end through the CLI on the fashion SSDLite recipe, shrunk to seconds:
// train (with --eval), eval -c -w, infer (alone, and side by side with its ONNX
// export) and plot.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "tests/train_fixture.h"
#include "train/util/panels.h"

namespace fs = std::filesystem;

TEST(E2E, FashionSsdliteSmallRecipe) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  // The shipped recipe, with its data and size pointed at the tiny set.
  testutil::write_text(d.file("recipe.yml"),
                       "_BASE_: [" + testutil::source_path("configs/fashion/ssdlite_mobilenet_v3_small.yml") +
                           "]\n"
                           "max_iters: 4\nsnapshot_iter: 2\nlog_iter: 2\nsave_dir: " +
                           d.file("out") + "\n");
  std::string o;
  for (const auto& s : testutil::tiny_ssd_overrides(d, 96))
    if (s.rfind("save_dir", 0) != 0 && s.rfind("log_iter", 0) != 0) o += " -o '" + s + "'";
  auto r = testutil::run_cli("train -c " + d.file("recipe.yml") + " --eval" + o);
  ASSERT_EQ(r.code, 0) << r.output;
  const fs::path run = fs::path(d.file("out")) / "recipe";
  for (const char* f : {"model_final.pt", "latest.pt", "best_model.pt", "metrics.jsonl"})
    EXPECT_TRUE(fs::exists(run / f)) << f;
  EXPECT_NE(r.output.find("ETA"), std::string::npos) << r.output;

  r = testutil::run_cli("eval -c " + d.file("recipe.yml") + o + " -w " + (run / "model_final.pt").string() + " --out " +
                        d.file("stats.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto stats = nlohmann::json::parse(testutil::read_text(d.file("stats.json")));
  EXPECT_EQ(stats.size(), 12u);
  EXPECT_TRUE(fs::exists(run / "eval_dets.json"));

  r = testutil::run_cli("infer -c " + d.file("recipe.yml") + o + " -w " + (run / "model_final.pt").string() +
                        " --image " + d.file("train/000001.jpg") + " --out " + d.file("det.png") +
                        " --draw-threshold 0.0");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_GT(fs::file_size(d.file("det.png")), 1000u);

  // Side by side: the checkpoint, itself again, and its ONNX export in ONNX
  // Runtime, on two images: 3 columns of 96 px with 2 px gutters, 2 rows of a
  // title bar over the image.
  r = testutil::run_cli("export -c " + d.file("recipe.yml") + o + " -w " + (run / "model_final.pt").string() +
                        " --output " + d.file("m.onnx"));
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string two = " --image " + d.file("train/000001.jpg") + " --image " + d.file("train/000002.jpg");
  r = testutil::run_cli("infer -c " + d.file("recipe.yml") + o + " -w " + (run / "model_final.pt").string() + two +
                        " --compare " + (run / "model_final.pt").string() + " --onnx " + d.file("m.onnx") + " --out " +
                        d.file("cmp.png") + " --draw-threshold 0.0");
  ASSERT_EQ(r.code, 0) << r.output;
  const cv::Mat cmp = cv::imread(d.file("cmp.png"));
  EXPECT_EQ(cmp.cols, 3 * 96 + 2 * 2);
  EXPECT_EQ(cmp.rows, 2 * (compress::kTitleBar + 96) + 2);
  EXPECT_NE(r.output.find("recipe/model_final.pt: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("m.onnx (ONNX Runtime): "), std::string::npos) << r.output;
  // An export at another input size is named with the size to export at.
  r = testutil::run_cli("export -c " + d.file("recipe.yml") + o + " -w " + (run / "model_final.pt").string() +
                        " --input 64 --output " + d.file("m64.onnx"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = testutil::run_cli("infer -c " + d.file("recipe.yml") + o + " -w " + (run / "model_final.pt").string() + two +
                        " --onnx " + d.file("m64.onnx"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("m64.onnx' takes input [-1, 3, 64, 64] but this recipe's EvalReader gives [1, 3, 96, 96]; "
                          "export it with --input 96"),
            std::string::npos)
      << r.output;

  r = testutil::run_cli("plot " + run.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_GT(fs::file_size(run / "curves.png"), 1000u);

  // Resuming a finished run is a no-op that still succeeds; a bad checkpoint is exit 1.
  testutil::write_text(d.file("bad.pt"), "garbage");
  r = testutil::run_cli("eval -c " + d.file("recipe.yml") + o + " -w " + d.file("bad.pt"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("bad.pt"), std::string::npos) << r.output;
}
