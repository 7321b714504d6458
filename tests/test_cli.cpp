#include <gtest/gtest.h>

#include "tests/test_util.h"

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
