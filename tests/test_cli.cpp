#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "tests/test_util.h"
#include "tests/train_fixture.h"

using testutil::run_cli;

TEST(Cli, UsageErrorsExitTwoWithUsage) {
  auto r = run_cli("frobnicate");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("Usage"), std::string::npos) << r.output;
  r = run_cli("eval --gt a.json --dets b.json --bogus");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--bogus"), std::string::npos) << r.output;
  r = run_cli("");
  EXPECT_EQ(r.code, 2) << r.output;
  r = run_cli("config show");  // -c is required
  EXPECT_EQ(r.code, 2) << r.output;
}

TEST(Cli, HelpExitsZero) {
  const auto r = run_cli("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("eval"), std::string::npos);
}

TEST(Cli, RuntimeErrorsExitOneWithACause) {
  testutil::TempDir d;
  auto r = run_cli("eval --gt " + d.file("missing.json") + " --dets " + d.file("x.json"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("missing.json"), std::string::npos) << r.output;
  testutil::write_text(d.file("bad.yml"), "TrainReader:\n  batch_sise: 2\n");
  r = run_cli("config show -c " + d.file("bad.yml"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("did you mean 'batch_size'"), std::string::npos) << r.output;
  r = run_cli("--log-level loud config show -c " + d.file("bad.yml"));
  EXPECT_EQ(r.code, 1) << r.output;
}

TEST(Cli, ConfigShowPrintsTheMergedConfig) {
  const auto r = run_cli("config show -c " + testutil::source_path("configs/datasets/fashion_det.yml") +
                         " -o max_iters=77 --seed 3");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("max_iters: 77"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("seed: 3"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("anno_path: annotations/instances_val.json"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("type: NormalizeImage"), std::string::npos) << r.output;
}

TEST(Cli, ConfigKeysPrintsTheSchema) {
  auto r = run_cli("config keys TrainReader.batch_size");
  ASSERT_EQ(r.code, 0) << r.output;
  // Header, then the key with its type, default and range.
  EXPECT_NE(r.output.find("key"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("TrainReader.batch_size  int"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("in [1, 4096]"), std::string::npos) << r.output;
  r = run_cli("config keys TrainReader.batch_sise");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("did you mean 'TrainReader.batch_size'"), std::string::npos) << r.output;
}

TEST(Cli, DataPreviewDrawsWhatARecipesReaderFeedsTheModel) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 4, 64);
  const std::string recipe = testutil::source_path("configs/fashion/yolov3_mobilenet_v3_mixup.yml");
  auto r = run_cli("data preview -c " + recipe + " -o TrainReader.dataset.dataset_dir=" + d.path().string() +
                   " -o TrainReader.batch_size=2 --count 3 --out " + d.file("p.png"));
  ASSERT_EQ(r.code, 0) << r.output;
  const cv::Mat png = cv::imread(d.file("p.png"));
  EXPECT_EQ(png.cols, 3 * 320);  // three 320 px tiles in one row
  EXPECT_EQ(png.rows, 320);
  // Either source, not both, not neither: usage errors.
  r = run_cli("data preview --out " + d.file("q.png"));
  EXPECT_EQ(r.code, 2) << r.output;
  r = run_cli("data preview -c " + recipe + " --anno a.json --image-dir x --out " + d.file("q.png"));
  EXPECT_EQ(r.code, 2) << r.output;
  r = run_cli("data preview -c " + recipe + " --reader ValReader --out " + d.file("q.png"));
  EXPECT_EQ(r.code, 2) << r.output;
}
